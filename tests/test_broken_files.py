"""A corpus of broken and hostile model files, built here from a good one: each must be refused
with a ValueError that names the file and the problem, and none may run code."""

import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

import lstmkit.layers as L
from lstmkit.models import Sequential, load_extras, load_model

EXPLODED = []


class Bomb:
    """Unpickling this would call EXPLODED.append: the test checks it never runs."""

    def __reduce__(self):
        return (EXPLODED.append, ("code ran",))


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    torch.manual_seed(0)
    m = Sequential([L.Input(shape=(4, 3)), L.LSTM(5), L.Dense(2, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    m.fit(np.random.rand(8, 4, 3), np.array([0, 1] * 4), epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("good") / "good.lstmkit"
    m.save(path, extras={"note": "ok"})
    with zipfile.ZipFile(path) as zf:
        header = json.loads(zf.read("lstmkit.json"))
        tensors = load_safetensors(zf.read("tensors.safetensors"))
    return path, header, tensors


def archive(members, compression=zipfile.ZIP_STORED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buffer.getvalue()


def from_parts(header, tensors, extra=()):
    return archive([("lstmkit.json", json.dumps(header)), ("tensors.safetensors", save_safetensors(tensors)), *extra])


def edited_header(good, edit):
    _, header, tensors = good
    header = json.loads(json.dumps(header))
    edit(header)
    return from_parts(header, tensors)


def edited_tensors(good, edit):
    _, header, tensors = good
    tensors = dict(tensors)
    edit(tensors)
    return from_parts(header, tensors)


def first_weight(tensors):
    return next(k for k in tensors if k.startswith("weights.") and tensors[k].dim() == 2)


def first_moment(tensors):
    return next(k for k in tensors if k.startswith("optimizer.") and tensors[k].dim() == 2)


def with_weight_as(dtype):
    def edit(tensors):
        key = first_weight(tensors)
        tensors[key] = tensors[key].to(dtype) if dtype is not torch.complex64 else tensors[key] + 0.5j
    return edit


def set_layer_class(header, name):
    header["model_config"]["config"]["layers"][1]["class_name"] = name


def bad_zip_size(good):
    """A member whose local and central headers claim a size far beyond the limit."""
    data = bytearray(good[0].read_bytes())
    info = zipfile.ZipFile(good[0]).getinfo("tensors.safetensors")
    # patch the central directory's uncompressed size (4 bytes at offset 24 of its record)
    central = data.rfind(b"PK\x01\x02", 0, len(data))
    while data[central + 46 : central + 46 + len(info.filename)] != info.filename.encode():
        central = data.rfind(b"PK\x01\x02", 0, central)
    data[central + 24 : central + 28] = (0xFFFFFFF0).to_bytes(4, "little")
    return bytes(data)


CASES = {
    # cut short, or not a model at all
    "empty file": (lambda g: b"", "not a file written by lstmkit"),
    "truncated to half": (lambda g: g[0].read_bytes()[: len(g[0].read_bytes()) // 2], "not a whole lstmkit model file"),
    "last byte missing": (lambda g: g[0].read_bytes()[:-1], "not a whole lstmkit model file"),
    "random bytes": (lambda g: os.urandom(300), "not a file written by lstmkit"),
    "a text file": (lambda g: b"hello, model\n", "not a file written by lstmkit"),
    "a torch.save pickle": (lambda g: pickle.dumps(Bomb(), protocol=4), "pickle"),
    "a Keras .keras archive": (lambda g: archive([("config.json", "{}"), ("metadata.json", "{}"), ("model.weights.h5", b"\x89HDF")]), "Keras"),
    # hostile members
    "path traversal": (lambda g: archive([("../../evil.json", "{}"), ("lstmkit.json", "{}"), ("tensors.safetensors", b"")]), "path traversal"),
    "absolute member path": (lambda g: archive([("/etc/passwd", "x"), ("lstmkit.json", "{}")]), "path traversal"),
    "pickle member by name": (lambda g: archive([("lstmkit.json", "{}"), ("tensors.safetensors", b""), ("data.pkl", pickle.dumps(Bomb()))]), "pickle"),
    "pickle in place of the tensors": (lambda g: archive([("lstmkit.json", json.dumps(g[1])), ("tensors.safetensors", pickle.dumps(Bomb(), protocol=2))]), "pickle"),
    "an extra member": (lambda g: from_parts(g[1], g[2], extra=[("notes.txt", "hi")]), "unexpected members"),
    "tensors missing": (lambda g: archive([("lstmkit.json", json.dumps(g[1]))]), "missing"),
    "duplicate member": (lambda g: archive([("lstmkit.json", json.dumps(g[1])), ("lstmkit.json", "{}"), ("tensors.safetensors", save_safetensors(g[2]))]), "twice"),
    "absurd declared size": (bad_zip_size, "not a whole lstmkit model file|limit|damaged|declares"),
    "zip bomb": (lambda g: archive([("lstmkit.json", json.dumps(g[1]) + " " * (12 << 20)), ("tensors.safetensors", save_safetensors(g[2]))], zipfile.ZIP_DEFLATED), "zip bomb"),
    # damaged contents
    "JSON not JSON": (lambda g: archive([("lstmkit.json", "{not json"), ("tensors.safetensors", save_safetensors(g[2]))]), "not valid JSON"),
    "JSON nested a million deep": (lambda g: archive([("lstmkit.json", "[" * 1_000_000), ("tensors.safetensors", save_safetensors(g[2]))]), "not valid JSON"),
    "no format tag": (lambda g: edited_header(g, lambda h: h.pop("format")), "format tag"),
    "architecture missing": (lambda g: edited_header(g, lambda h: h.pop("model_config")), "lacks the key 'model_config'"),
    "architecture of the wrong type": (lambda g: edited_header(g, lambda h: h.update(model_config=[1, 2])), "should be a dict"),
    "unknown layer type": (lambda g: edited_header(g, lambda h: set_layer_class(h, "os.system")), "Unknown layer type 'os.system'"),
    "layer with an unknown argument": (lambda g: edited_header(g, lambda h: h["model_config"]["config"]["layers"][1]["config"].update(evil=1)), "architecture .* not valid"),
    "unknown optimizer": (lambda g: edited_header(g, lambda h: h["compile_config"]["optimizer"].update(class_name="Exec")), "unknown optimizer class"),
    "extras not a dict": (lambda g: edited_header(g, lambda h: h.update(extras=[1])), None),
    "tensor bytes damaged": (lambda g: archive([("lstmkit.json", json.dumps(g[1])), ("tensors.safetensors", save_safetensors(g[2])[:-7])]), "damaged"),
    "tensor header garbage": (lambda g: archive([("lstmkit.json", json.dumps(g[1])), ("tensors.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": garbage}")]), "damaged"),
    "weight missing": (lambda g: edited_tensors(g, lambda t: t.pop(first_weight(t))), "missing"),
    "weight of another shape": (lambda g: edited_tensors(g, lambda t: t.update({first_weight(t): torch.zeros(7, 7)})), "has shape"),
    "an extra weight": (lambda g: edited_tensors(g, lambda t: t.update({"weights.layers.9.kernel": torch.zeros(2)})), "not in the model"),
    "an optimizer moment of another shape": (lambda g: edited_tensors(g, lambda t: t.update({first_moment(t): torch.zeros(7, 7)})), r"optimizer tensor 'optimizer\.\d+\.\w+' of shape \(7, 7\) fits none of the model's weights"),
    "an optimizer moment of integers": (lambda g: edited_tensors(g, lambda t: t.update({first_moment(t): t[first_moment(t)].to(torch.int32)})), "should be a floating-point tensor"),
    "a learning rate of 'nan' in the optimizer state": (lambda g: edited_header(g, lambda h: h["optimizer_state"]["keras"].update(learning_rate="nan")), "learning_rate='nan'"),
    "a NaN learning rate in the optimizer state": (lambda g: edited_header(g, lambda h: h["optimizer_state"]["keras"].update(learning_rate=float("nan"))), "learning_rate=nan"),
    "a negative iteration count": (lambda g: edited_header(g, lambda h: h["optimizer_state"]["keras"].update(iterations=-5)), "iterations=-5"),
    "a NaN learning rate in the settings": (lambda g: edited_header(g, lambda h: h["compile_config"]["optimizer"]["config"].update(learning_rate=float("nan"))), "learning_rate=nan"),
    "the abstract optimizer class": (lambda g: edited_header(g, lambda h: h["compile_config"]["optimizer"].update(class_name="Optimizer")), "abstract"),
    "weights stored as int8": (lambda g: edited_tensors(g, with_weight_as(torch.int8)), "stored as int8"),
    "weights stored as bool": (lambda g: edited_tensors(g, with_weight_as(torch.bool)), "stored as bool"),
    "weights stored as complex": (lambda g: edited_tensors(g, with_weight_as(torch.complex64)), "stored as complex64"),
    "optimizer tensor misnamed": (lambda g: edited_tensors(g, lambda t: t.update({"optimizer.x": torch.zeros(2)})), "optimizer"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_file_is_refused_by_name(good, tmp_path, case):
    make, message = CASES[case]
    path = tmp_path / "broken.lstmkit"
    path.write_bytes(make(good))
    loader = load_extras if case == "extras not a dict" else load_model
    with pytest.raises(ValueError) as caught:
        loader(path)
    text = str(caught.value)
    assert "broken.lstmkit" in text, text
    if message is not None:
        import re

        assert re.search(message, text), text
    assert EXPLODED == []


def test_the_good_file_loads(good):
    path, _, _ = good
    assert load_model(path).predict(np.zeros((1, 4, 3))).shape == (1, 2)
    assert load_extras(path) == {"note": "ok"}


def test_corpus_size():
    """The note reports this number; keep it honest."""
    assert len(CASES) >= 30
