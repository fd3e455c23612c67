"""ONNX export (lstmkit/saving/onnx.py) against onnxruntime: each exported model, checked by
ONNX's checker, predicts in onnxruntime what `model.predict` does, to 1e-5, on batch sizes and
lengths other than the one traced; a layer the native operators cannot express is refused by name."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from lstmkit import layers as L
from lstmkit.kernels import build
from lstmkit.models import Sequential, load_model

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
pytestmark = pytest.mark.skipif(not build.load(), reason=f"fused kernels unavailable: {build.failure()}")

MODELS = {
    "lstm-stacked": lambda: [L.LSTM(8, return_sequences=True), L.LSTM(6), L.Dense(3, activation="softmax")],
    "lstm-sequences-out": lambda: [L.LSTM(5, return_sequences=True), L.TimeDistributed(L.Dense(2))],
    "lstm-peepholes-no-bias-hard-sigmoid": lambda: [L.LSTM(5, peephole=True, use_bias=False,
                                                           recurrent_activation="hard_sigmoid"), L.Dense(2)],
    "lstm-relu-unit-forget-bias-off": lambda: [L.LSTM(6, activation="relu", unit_forget_bias=False), L.Dense(1)],
    "cudnn-lstm": lambda: [L.CuDNNLSTM(5, return_sequences=True), L.GlobalAveragePooling1D(), L.Dense(2)],
    "gru-both-reset-after": lambda: [L.GRU(8, return_sequences=True), L.GRU(5, reset_after=False), L.Dense(2)],
    "gru-softsign-no-bias": lambda: [L.GRU(4, activation="softsign", use_bias=False), L.Dense(2)],
    "simple-rnn": lambda: [L.SimpleRNN(7, activation="relu", return_sequences=True), L.SimpleRNN(3), L.Dense(2)],
    "bidirectional": lambda: [L.Bidirectional(L.LSTM(4, return_sequences=True)),
                              L.Bidirectional(L.GRU(3, return_sequences=True), merge_mode="sum"),
                              L.Bidirectional(L.SimpleRNN(3), merge_mode="ave"), L.Dense(2)],
    "go-backwards": lambda: [L.LSTM(4, go_backwards=True, return_sequences=True), L.GRU(3, go_backwards=True),
                             L.Dense(2)],
}


def built(layers, shape=(None, 3), seed=0):
    torch.manual_seed(seed)
    model = Sequential([L.Input(shape), *layers])
    with torch.no_grad():  # away from the initialisers' zeros and ones: every weight matters
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def assert_same_in_onnxruntime(model, path, inputs):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["x"]
    for x in inputs:
        got = session.run(None, {"x": x})[0]
        np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-5,
                                   err_msg=f"input {x.shape}")


def frames(*shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_export_predicts_as_lstmkit(name, tmp_path):
    model = built(MODELS[name]())
    path = model.export(tmp_path / f"{name}.onnx", format="onnx")
    assert_same_in_onnxruntime(model, path, [frames(4, 5, 3), frames(1, 9, 3, seed=2), frames(7, 1, 3, seed=3)])


def test_seed_model_and_the_dynamic_axes(tmp_path):
    """The seed program's model (two LSTM(128), dropout, dense): batch and time free in the file."""
    model = built([L.LSTM(128, return_sequences=True), L.Dropout(0.2), L.LSTM(128), L.Dense(64, activation="relu"),
                   L.Dropout(0.2), L.Dense(10, activation="softmax")], shape=(28, 28))
    path = model.export(tmp_path / "seed.onnx", format="onnx")
    import onnx

    dims = onnx.load(path).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 28, 28]
    assert_same_in_onnxruntime(model, path, [frames(32, 28, 28), frames(1, 28, 28, seed=4)])


def test_embedding_and_lstm(tmp_path):
    """Word ids in (as floats, as Keras takes them), an Embedding, an LSTM."""
    model = built([L.Embedding(50, 8), L.LSTM(6), L.Dense(1, activation="sigmoid")], shape=(None,))
    path = model.export(tmp_path / "words.onnx", format="onnx")
    ids = np.random.default_rng(5).integers(0, 50, (6, 11)).astype(np.float32)
    assert_same_in_onnxruntime(model, path, [ids, ids[:2, :4]])


@pytest.mark.parametrize("layers,match", [
    (lambda: [L.LSTM(5, layer_norm=True)], r"LSTM layer 'lstm\w*' cannot be exported to ONNX: .*layer normalization"),
    (lambda: [L.Masking(0.0), L.GRU(4)], r"GRU layer 'gru\w*' cannot be exported to ONNX: it reads a mask"),
    (lambda: [L.LSTM(4, implementation="reference")], r"LSTM layer 'lstm\w*' cannot be exported to ONNX: .*reference"),
    (lambda: [L.SimpleRNN(4, activation="selu")], r"SimpleRNN layer 'simple_rnn\w*' cannot .*'selu'"),
], ids=["layer-norm", "mask", "reference-loop", "activation"])
def test_a_layer_onnx_cannot_express_is_named(layers, match, tmp_path):
    model = built([*layers(), L.Dense(2)])
    with pytest.raises(ValueError, match=match):
        model.export(tmp_path / "refused.onnx", format="onnx")
    assert not (tmp_path / "refused.onnx").exists()


def test_export_takes_onnx_only():
    model = built([L.LSTM(3)])
    with pytest.raises(ValueError, match="format='tf_saved_model'.*format='onnx'"):
        model.export("x")


def test_command_line_exports_a_saved_model(tmp_path):
    model = built([L.GRU(5), L.Dense(2, activation="softmax")])
    model.save(tmp_path / "m.lstmkit")
    out = tmp_path / "m.onnx"
    done = subprocess.run([sys.executable, "-m", "lstmkit.cli", "export", str(tmp_path / "m.lstmkit"), str(out)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert_same_in_onnxruntime(load_model(tmp_path / "m.lstmkit"), str(out), [frames(3, 6, 3)])
    missing = subprocess.run([sys.executable, "-m", "lstmkit.cli", "export", str(tmp_path / "none.lstmkit"), str(out)],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "none.lstmkit" in missing.stderr
