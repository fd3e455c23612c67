"""Keras's HDF5 files (`.h5`, `.weights.h5`, the weights inside `.keras`) as an attacker makes
them: nothing in a file may make lstmkit read another file (links at any level, virtual
datasets, external storage), declare more than it stores, or hang or crash the process. Each is
refused with a ValueError naming the file, in its own process under a time and memory limit.
The good files come from Keras itself and load to Keras's predictions (the oracle)."""

import io
import os
import re
import signal
import time
import zipfile

import h5py
import keras
import numpy as np
import pytest

import lstmkit.layers as L
from hostile import attack, mutations
from lstmkit.models import Sequential, load_model
from lstmkit.models.keras_files import KerasFileError
from lstmkit.saving import hdf5

rng = np.random.default_rng(3)
SECRET = b"NAME=secret-os-release\n"


def keras_model():
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(2)])
    model.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in model.weights])
    return model


def ours():
    return Sequential([L.Input(shape=(5, 3)), L.LSTM(4), L.Dense(2)])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keras_files")
    model = keras_model()
    model.save_weights(folder / "good.weights.h5")
    model.save(folder / "good.h5")
    model.save(folder / "good.keras")
    (folder / "secret.txt").write_bytes(SECRET)
    with h5py.File(folder / "secret.h5", "w") as f:
        f.create_group("g")["vars/0"] = np.full((4, 2), 7.0, dtype="float32")
        f["g/vars/1"] = np.full((2,), 7.0, dtype="float32")
    return folder, model


def edited(files, name, edit, suffix=".weights.h5"):
    folder, _ = files
    target = folder / f"{name}{suffix}"
    target.write_bytes((folder / f"good{suffix}").read_bytes())
    with h5py.File(target, "a") as f:
        edit(f, folder)
    return target


def replace(f, path, make):
    del f[path]
    make(f, path)


EDITS = {
    "an ExternalLink on a group": lambda f, d: replace(f, "layers/dense", lambda f, p: f.__setitem__(
        p, h5py.ExternalLink(str(d / "secret.h5"), "/g"))),
    "an ExternalLink on a dataset": lambda f, d: replace(f, "layers/dense/vars/0", lambda f, p: f.__setitem__(
        p, h5py.ExternalLink(str(d / "secret.h5"), "/g/vars/0"))),
    "an ExternalLink on the root's layers group": lambda f, d: replace(f, "layers", lambda f, p: f.__setitem__(
        p, h5py.ExternalLink(str(d / "secret.h5"), "/"))),
    "a virtual dataset over another file": lambda f, d: replace(f, "layers/dense/vars/1", lambda f, p: f.create_virtual_dataset(
        p, _layout(d), fillvalue=0)),
    "external raw storage": lambda f, d: replace(f, "layers/dense/vars/1", lambda f, p: f.create_dataset(
        p, shape=(2,), dtype="float32", external=[(str(d / "secret.txt"), 0, 8)])),
    "a soft link through an external link": lambda f, d: (f.__setitem__("elsewhere", h5py.ExternalLink(str(d / "secret.h5"), "/g")),
                                                          replace(f, "layers/dense/vars/0", lambda f, p: f.__setitem__(
                                                              p, h5py.SoftLink("/elsewhere/vars/0")))),
    "a soft link loop": lambda f, d: replace(f, "layers/dense/vars/0", lambda f, p: f.__setitem__(p, h5py.SoftLink("/" + p))),
    "a dangling soft link": lambda f, d: replace(f, "layers/dense/vars/0", lambda f, p: f.__setitem__(p, h5py.SoftLink("/nowhere"))),
    "a hard-link cycle": lambda f, d: f["layers/dense"].__setitem__("again", f["layers"]),
    "a dataset declared and never written": lambda f, d: replace(f, "layers/dense/vars/0", lambda f, p: f.create_dataset(
        p, shape=(4, 2), dtype="float32")),
    "chunks never written": lambda f, d: replace(f, "layers/dense/vars/0", lambda f, p: f.create_dataset(
        p, shape=(4, 2), dtype="float32", chunks=(1, 2), compression="gzip")),
    "an unknown filter (lzf)": lambda f, d: replace(f, "layers/dense/vars/0", lambda f, p: f.create_dataset(
        p, data=np.ones((4, 2), "float32"), chunks=(2, 2), compression="lzf")),
}


def _layout(folder):
    layout = h5py.VirtualLayout(shape=(2,), dtype="float32")
    layout[:] = h5py.VirtualSource(str(folder / "secret.h5"), "g/vars/1", shape=(2,))
    return layout


EXPECTED = {
    "an ExternalLink on a group": "link to another file", "an ExternalLink on a dataset": "link to another file",
    "an ExternalLink on the root's layers group": "link to another file",
    "a virtual dataset over another file": "virtual dataset", "external raw storage": "external storage",
    "a soft link through an external link": "link to another file", "a soft link loop": "soft link followed more",
    "a dangling soft link": "not in the file", "a hard-link cycle": "contains itself",
    "a dataset declared and never written": "declares 32 bytes of data and stores 0",
    "chunks never written": "chunks never written", "an unknown filter (lzf)": "filters",
}

LOAD_WEIGHTS = """
model = Sequential([L.Input(shape=(5, 3)), L.LSTM(4), L.Dense(2)])
model.load_weights({path!r})
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EDITS))
def test_an_hdf5_weights_file_reaching_outside_or_lying_is_refused(files, name):
    path = edited(files, re.sub(r"\W+", "_", name), EDITS[name])
    result = attack(LOAD_WEIGHTS.format(path=str(path)), setup="import lstmkit.layers as L\nfrom lstmkit.models import Sequential",
                    seconds=60, megabytes=300)
    assert result.refused("ValueError") and path.name in result.outcome, (name, result)
    assert EXPECTED[name] in result.outcome, (name, result.outcome)
    assert result.seconds < 5 and result.megabytes < 200, (name, result)


@pytest.mark.slow
def test_an_attribute_of_20_mib_is_refused(files, tmp_path):
    folder, _ = files
    path = tmp_path / "big_attribute.weights.h5"
    with h5py.File(folder / "good.weights.h5", "r") as good, h5py.File(path, "w", libver="latest") as f:
        for key in good:
            good.copy(good[key], f, name=key)
        f.attrs["padding"] = np.zeros(20 << 18, dtype="float32")  # dense attribute storage holds it
    result = attack(LOAD_WEIGHTS.format(path=str(path)), setup="import lstmkit.layers as L\nfrom lstmkit.models import Sequential",
                    seconds=60, megabytes=300)
    assert result.refused("ValueError") and path.name in result.outcome and "above the limit" in result.outcome, result


def test_a_soft_link_inside_the_file_is_followed_and_loads_as_keras_predicts(files):
    folder, theirs = files

    def move(f, _):
        f["stash/kernel"] = f["layers/dense/vars/0"][()]
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = h5py.SoftLink("../../../stash/kernel")

    model = ours()
    model.load_weights(edited(files, "soft", move))
    x = rng.normal(size=(3, 5, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5, rtol=0)


def test_good_keras_files_load_as_keras_predicts(files):
    folder, theirs = files
    x = rng.normal(size=(3, 5, 3)).astype("float32")
    for name in ("good.h5", "good.keras"):
        np.testing.assert_allclose(load_model(folder / name).predict(x, verbose=0), theirs.predict(x, verbose=0),
                                   atol=1e-5, rtol=0)


def keras_archive(path, config, weights, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        z.writestr("metadata.json", "{}")
        z.writestr("config.json", config)
        z.writestr("model.weights.h5", weights)


@pytest.mark.slow
def test_a_keras_archive_declaring_a_10_gb_dense_with_no_data_is_refused_small(files, tmp_path):
    folder, _ = files
    import json

    small = keras.Sequential([keras.Input((7,)), keras.layers.Dense(5, use_bias=False)])
    config = json.loads(small.to_json())["config"]  # then made to declare 50,000 x 50,000 floats (10 GB)
    for layer in config["layers"]:
        if layer["class_name"] == "InputLayer":
            layer["config"]["batch_shape"] = [None, 50_000]
        else:
            layer["config"]["units"] = 50_000
    top = {"class_name": "Sequential", "config": config, "module": "keras"}
    weights = io.BytesIO()
    with h5py.File(weights, "w") as f:  # the kernel's shape, chunked and gzip'd, no chunk ever written
        f.create_dataset("layers/dense/vars/0", shape=(50_000, 50_000), dtype="float32", chunks=(1000, 1000),
                         compression="gzip")
    keras_archive(tmp_path / "huge.keras", json.dumps(top), weights.getvalue())
    assert os.path.getsize(tmp_path / "huge.keras") < 20_000
    result = attack(f"load_model({str(tmp_path / 'huge.keras')!r})", setup="from lstmkit.models import load_model",
                    seconds=60, megabytes=400)
    assert result.refused("ValueError") and "huge.keras" in result.outcome and "never written" in result.outcome, result
    assert result.seconds < 5 and result.megabytes < 300, result


@pytest.mark.slow
def test_a_weights_member_of_a_gigabyte_of_deflated_zeros_is_refused_fast(files, tmp_path):
    folder, _ = files
    with zipfile.ZipFile(folder / "good.keras") as z:
        config = z.read("config.json")
    with zipfile.ZipFile(tmp_path / "zeros.keras", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", config)
        with z.open("model.weights.h5", "w", force_zip64=True) as member:
            block = bytes(1 << 24)
            for _ in range(64):
                member.write(block)
    result = attack(f"load_model({str(tmp_path / 'zeros.keras')!r})", setup="from lstmkit.models import load_model",
                    seconds=60, megabytes=300)
    assert result.refused("ValueError") and "zeros.keras" in result.outcome and "zip bomb" in result.outcome, result
    assert result.seconds < 5 and result.megabytes < 200, result


def test_a_read_that_hangs_in_libhdf5_is_abandoned(files, monkeypatch):
    """A damaged file can make libhdf5 loop inside one call (13 KB, more than 120 s): the worker
    reading it is abandoned. The loop is stood in for by a sleep in the worker's reading."""
    folder, _ = files
    monkeypatch.setattr(hdf5, "_walk", lambda source, label: time.sleep(3600))
    start = time.perf_counter()
    with pytest.raises(KerasFileError, match=r"good\.h5.*took more than .* s"):
        load_model(folder / "good.h5")
    assert time.perf_counter() - start < hdf5.seconds_for(os.path.getsize(folder / "good.h5")) + 2


def test_a_read_that_crashes_libhdf5_is_refused_and_this_process_lives_on(files, monkeypatch):
    folder, _ = files
    monkeypatch.setattr(hdf5, "_walk", lambda source, label: os.kill(os.getpid(), signal.SIGSEGV))
    with pytest.raises(KerasFileError, match=r"good\.weights\.h5.*crashed"):
        ours().load_weights(folder / "good.weights.h5")


def test_a_fork_refused_for_a_moment_is_tried_again_and_one_refused_throughout_names_the_file(files, monkeypatch):
    """filelock's audit hook (filelock comes with torch) refuses os.fork with a RuntimeError
    while any thread is changing a lock's descriptors, another thread's fork included (Python
    3.12). Stood in for by a fork that refuses a number of times: the reader is started once
    the refusals end, and a fork refused throughout is an error that names the file and does not
    call it damaged."""
    folder, theirs = files
    real_fork, refusals = os.fork, []

    def refusing(times):
        def fork():
            if len(refusals) < times:
                refusals.append(1)
                raise RuntimeError("os.fork is unsafe while filelock is changing descriptor ownership")
            return real_fork()
        return fork

    x = rng.normal(size=(2, 5, 3)).astype("float32")
    monkeypatch.setattr(os, "fork", refusing(3))
    np.testing.assert_allclose(load_model(folder / "good.h5").predict(x, verbose=0), theirs.predict(x, verbose=0),
                               atol=1e-5, rtol=0)
    assert len(refusals) == 3
    refusals.clear()
    monkeypatch.setattr(os, "fork", refusing(10**9))
    monkeypatch.setattr(hdf5, "FORK_PAUSE", 0.0)
    with pytest.raises(KerasFileError, match=r"good\.h5.*could not be started.*unsafe.*not read") as refused:
        load_model(folder / "good.h5")
    assert "not a whole" not in str(refused.value)
    assert len(refusals) == hdf5.FORK_TRIES


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["good.h5", "good.weights.h5", "good.keras"])
def test_byte_mutated_keras_files_load_or_are_refused_by_name(files, tmp_path, kind):
    """100 copies of each of Keras's files with 1 to 64 bytes changed: each loads or is a
    ValueError that names it (once 40 of 750 ended in a bare RuntimeError or OSError of h5py, and
    a zip version byte in a NotImplementedError)."""
    folder, _ = files
    load = ("Sequential([L.Input(shape=(5, 3)), L.LSTM(4), L.Dense(2)]).load_weights(path)" if kind == "good.weights.h5"
            else "load_model(path)")
    result = mutations(str(folder / kind), 100, str(tmp_path), load,
                       setup="import lstmkit.layers as L\nfrom lstmkit.models import Sequential, load_model")
    assert result.outcome == "ok", result


HANGS = os.path.join(os.path.dirname(__file__), "data", "hangs_libhdf5.weights.h5")


@pytest.mark.slow
def test_a_16_kb_mutated_file_that_hangs_libhdf5_is_refused_in_seconds():
    """tests/data/hangs_libhdf5.weights.h5: a Keras weights file with a few bytes changed (found
    by the mutation run below); h5py's own `attrs["name"]` on /layers/dense/vars never returns."""
    result = attack(LOAD_WEIGHTS.format(path=HANGS), setup="import lstmkit.layers as L\nfrom lstmkit.models import Sequential",
                    seconds=60, megabytes=300)
    assert result.refused("ValueError") and "hangs_libhdf5" in result.outcome and "took more than" in result.outcome, result
    assert result.seconds < hdf5.seconds_for(os.path.getsize(HANGS)) + 2, result


def test_a_read_that_allocates_without_end_meets_the_worker_s_memory_limit(files, monkeypatch):
    """libhdf5 allocating what a damaged file declares is stood in for by an allocation of
    64 GiB in the worker's reading: it fails there, and this process gets a refusal."""
    folder, _ = files

    def allocate(source, label):
        return bytearray(64 << 30)

    monkeypatch.setattr(hdf5, "_walk", allocate)
    with pytest.raises(KerasFileError, match=r"good\.weights\.h5.*MemoryError"):
        ours().load_weights(folder / "good.weights.h5")


def test_without_fork_the_same_reading_runs_in_this_process(files, monkeypatch):
    """Where the platform cannot fork (Windows), the reading and its checks run here."""
    folder, theirs = files
    monkeypatch.delattr(os, "fork")
    model = ours()
    model.load_weights(folder / "good.weights.h5")
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5, rtol=0)
    with pytest.raises(KerasFileError, match="link to another file"):
        ours().load_weights(edited(files, "no_fork_link", EDITS["an ExternalLink on a group"]))


def test_eight_threads_loading_keras_files_at_once_each_get_keras_s_model(files):
    """Each load forks its own reader; threads loading at once (while others import) each get
    the whole model."""
    import threading

    folder, theirs = files
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    expected = theirs.predict(x, verbose=0)
    results, errors = [], []

    def load():
        try:
            for _ in range(3):
                results.append(load_model(folder / "good.h5").predict(x, verbose=0))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 24, errors[:3]
    for got in results:
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
