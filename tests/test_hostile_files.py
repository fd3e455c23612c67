"""Small hostile model files that once took minutes and gigabytes: each is refused in under a
second and under 100 MB, with a ValueError that names the file. Each load runs in its own
process, which measures its time and its peak resident memory around `load_model`."""

import json
import struct
import subprocess
import sys
import warnings
import zipfile

import pytest

import lstmkit.layers as L
from lstmkit.models import Sequential

MEASURE = """
import json, resource, sys, time
from lstmkit.models import load_model
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    load_model(sys.argv[1])
    outcome = "loaded"
except Exception as err:
    outcome = ("ValueError" if isinstance(err, ValueError) else type(err).__name__) + f": {err}"
seconds = time.perf_counter() - start
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024  # kB on Linux
print(json.dumps({"outcome": outcome, "seconds": seconds, "megabytes": grown}))
"""


def archive(path, members, compression=zipfile.ZIP_STORED):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicated names, on purpose here
        with zipfile.ZipFile(path, "w", compression=compression) as zf:
            for name, data in members:
                zf.writestr(name, data)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The JSON and tensors of a small good LSTM model and of an Embedding model."""
    out = tmp_path_factory.mktemp("hostile")
    found = {}
    for name, layers in (("lstm", [L.Input(shape=(4, 3)), L.LSTM(5), L.Dense(2)]),
                         ("embedding", [L.Input(shape=(4,)), L.Embedding(10, 3), L.LSTM(2)])):
        Sequential(layers).save(out / f"{name}.lstmkit")
        with zipfile.ZipFile(out / f"{name}.lstmkit") as zf:
            found[name] = (json.loads(zf.read("lstmkit.json")), zf.read("tensors.safetensors"))
    return out, found


def with_layer_config(header, index, **changes):
    header = json.loads(json.dumps(header))
    header["model_config"]["config"]["layers"][index]["config"].update(changes)
    return json.dumps(header)


def inflating_tensors(megabytes):
    """A safetensors member that declares `megabytes` of float32 zeros (whole and consistent)."""
    spec = {"weights.layers.0.cell.kernel": {"dtype": "F32", "shape": [megabytes << 18], "data_offsets": [0, megabytes << 20]}}
    head = json.dumps(spec).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + bytes(megabytes << 20)


CASES = {
    "LSTM units=12000 beside the weights of 5": lambda g: [("lstmkit.json", with_layer_config(g["lstm"][0], 1, units=12000)),
                                                         ("tensors.safetensors", g["lstm"][1])],
    "LSTM units=10**9": lambda g: [("lstmkit.json", with_layer_config(g["lstm"][0], 1, units=10**9)),
                                   ("tensors.safetensors", g["lstm"][1])],
    "Embedding(10**10, 3)": lambda g: [("lstmkit.json", with_layer_config(g["embedding"][0], 1, input_dim=10**10)),
                                       ("tensors.safetensors", g["embedding"][1])],
    "60,000 duplicated member names": lambda g: [("lstmkit.json", json.dumps(g["lstm"][0]))]
                                                 + [("tensors.safetensors", b"")] * 60_000,
    "JSON lists 900 deep": lambda g: [("lstmkit.json", json.dumps({**g["lstm"][0], "extras": json.loads("[" * 900 + "]" * 900)})),
                                      ("tensors.safetensors", g["lstm"][1])],
}


def measure(path):
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_small_hostile_file_is_refused_fast_and_small(saved, case):
    out, found = saved
    path = out / "hostile.lstmkit"
    archive(path, CASES[case](found))
    result = measure(path)
    assert result["outcome"].startswith("ValueError") and str(path) in result["outcome"], result
    assert result["seconds"] < 1.0 and result["megabytes"] < 100, result


@pytest.mark.slow
def test_a_deflated_member_declaring_more_than_the_model_is_not_inflated(saved):
    """256 MiB of declared zeros, deflated about 1000:1: refused from the member's header, before
    its data is inflated (the peak stays far below 256 MiB)."""
    out, found = saved
    path = out / "inflating.lstmkit"
    archive(path, [("lstmkit.json", json.dumps(found["lstm"][0])), ("tensors.safetensors", inflating_tensors(256))],
            zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < (1 << 20)
    result = measure(path)
    assert result["outcome"].startswith("ValueError") and "do not fit" in result["outcome"], result
    assert result["seconds"] < 1.0 and result["megabytes"] < 100, result


@pytest.mark.slow
def test_the_good_file_loads_in_the_same_measure(saved):
    out, _ = saved
    assert measure(out / "lstm.lstmkit")["outcome"] == "loaded"


@pytest.mark.slow
def test_byte_mutated_model_files_load_or_are_refused_by_name(saved, tmp_path):
    """500 copies of a good file with 1 to 64 bytes changed: each loads or is a ValueError that
    names it (zipfile's NotImplementedError for a version byte, or a UnicodeDecodeError for a
    member's name, once escaped bare)."""
    from hostile import mutations

    out, _ = saved
    result = mutations(str(out / "lstm.lstmkit"), 500, str(tmp_path), "load_model(path)",
                       setup="from lstmkit.models import load_model")
    assert result.outcome == "ok", result
