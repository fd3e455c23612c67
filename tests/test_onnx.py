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
    # the explicit loop (a Scan of the reference cell's step)
    "loop-lstm-layer-norm": lambda: [L.LSTM(5, layer_norm=True, return_sequences=True), L.Dense(2)],
    "loop-lstm-norm-peepholes-clip": lambda: [L.LSTM(5, layer_norm=True, peephole=True, cell_clip=0.5), L.Dense(2)],
    "loop-lstm-zoneout": lambda: [L.LSTM(5, zoneout=0.3, return_sequences=True), L.Dense(2)],
    "loop-masked-lstm": lambda: [L.Masking(0.0), L.LSTM(5, return_sequences=True), L.LSTM(3), L.Dense(2)],
    "loop-masked-gru-both": lambda: [L.Masking(0.0), L.GRU(5, return_sequences=True), L.GRU(3, reset_after=False),
                                     L.Dense(2)],
    "loop-masked-rnn-zero-output": lambda: [L.Masking(0.0), L.SimpleRNN(4, return_sequences=True,
                                                                          zero_output_for_mask=True), L.Dense(2)],
    "loop-masked-bidirectional": lambda: [L.Masking(0.0), L.Bidirectional(L.LSTM(4, return_sequences=True)),
                                          L.Bidirectional(L.GRU(3)), L.Dense(2)],
    "loop-other-activations": lambda: [L.GRU(4, activation="selu", recurrent_activation="hard_silu",
                                             return_sequences=True),
                                       L.LSTM(4, activation="gelu", recurrent_activation="relu6", return_sequences=True),
                                       L.SimpleRNN(3, activation="mish"), L.Dense(2)],
}


def built(layers, shape=(None, 3), seed=0):
    torch.manual_seed(seed)
    model = Sequential([L.Input(shape), *layers])
    with torch.no_grad():  # away from the initialisers' zeros and ones: every weight matters
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def assert_same_in_onnxruntime(model, path, inputs):
    """Each of `inputs` (an array, or a list for several inputs) through onnxruntime and through
    `predict`: every output the same."""
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == model.input_names
    for x in inputs:
        xs = x if isinstance(x, list) else [x]
        got = session.run(None, dict(zip(model.input_names, xs)))
        expected = model.predict(x, verbose=0)
        expected = expected if isinstance(expected, list) else [expected]
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5, err_msg=f"input {[a.shape for a in xs]}")


def frames(*shape, seed=1):
    """Random frames; from three steps on, the first sample's first two steps and the third's last
    two are zeros (left and right padding, read as masked where a Masking layer is)."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    if len(shape) == 3 and shape[1] >= 3:
        x[0, :2] = 0.0
        if shape[0] >= 3:
            x[2, -2:] = 0.0
    return x


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


@pytest.mark.parametrize("layers,shape,match", [
    (lambda: [L.LSTM(4, implementation="reference")], (None, 3),
     r"LSTM layer 'lstm\w*' cannot be exported to ONNX: .*reference"),
    (lambda: [L.ConvLSTM2D(2, 2), L.Flatten()], (4, 5, 5, 1),
     r"ConvLSTM2D layer 'conv_lstm2d\w*' cannot be exported to ONNX: .*even size"),
], ids=["reference-loop", "even-kernel-conv-lstm"])
def test_a_layer_onnx_cannot_express_is_named(layers, shape, match, tmp_path):
    model = built([*layers(), L.Dense(2)], shape=shape)
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


def test_functional_seq2seq_encoder_and_decoder(tmp_path):
    """keras.io's character seq2seq at inference: the encoder model (sequence in, its LSTM's final
    states out) and the decoder model (a step's token and the states in, the next token's
    probabilities and the new states out), each exported and run in onnxruntime."""
    from lstmkit.models import Model

    torch.manual_seed(0)
    tokens_in, tokens_out, latent = 7, 5, 6
    encoder_inputs = L.Input((None, tokens_in), name="encoder_inputs")
    _, h, c = L.LSTM(latent, return_state=True)(encoder_inputs)
    encoder = Model(encoder_inputs, [h, c])
    decoder_inputs = L.Input((None, tokens_out), name="decoder_inputs")
    state_h, state_c = L.Input((latent,), name="state_h"), L.Input((latent,), name="state_c")
    decoder_lstm = L.LSTM(latent, return_sequences=True, return_state=True)
    y, h2, c2 = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
    decoder = Model([decoder_inputs, state_h, state_c], [L.Dense(tokens_out, activation="softmax")(y), h2, c2])
    for m in (encoder, decoder):
        with torch.no_grad():
            for p in m.parameters():
                p.add_(0.1 * torch.randn_like(p))
    assert_same_in_onnxruntime(encoder, encoder.export(tmp_path / "encoder.onnx", format="onnx"),
                               [frames(3, 8, tokens_in), frames(1, 2, tokens_in, seed=2)])
    states = [frames(3, latent, seed=3), frames(3, latent, seed=4)]
    assert_same_in_onnxruntime(decoder, decoder.export(tmp_path / "decoder.onnx", format="onnx"),
                               [[frames(3, 1, tokens_out), *states], [frames(3, 4, tokens_out, seed=5), *states]])


def test_stateful_layers_carry_their_states_through_the_file(tmp_path):
    """A stateful model's file takes each layer's states as inputs and returns the next ones: fed
    a step at a time with the states carried, it gives predict's outputs for the whole sequence;
    the layers' own states are as they were before the export."""
    model = built([L.LSTM(5, stateful=True, return_sequences=True), L.GRU(4, stateful=True, return_sequences=True),
                   L.Dense(2)])
    x = frames(2, 6, 3)
    model.predict(x[:, :2], verbose=0)
    held = [s.clone() for s in model.layers[0].states]
    path = model.export(tmp_path / "stream.onnx", format="onnx")
    assert all(torch.equal(a, b) for a, b in zip(held, model.layers[0].states))
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names == ["input_layer", "lstm_state_h", "lstm_state_c", "gru_state_h"]
    assert [o.name for o in session.get_outputs()][1:] == ["next_" + n for n in names[1:]]
    model.reset_states()
    whole = model.predict(x, verbose=0)
    states = {n: np.zeros((2, 5 if n.startswith("lstm") else 4), np.float32) for n in names[1:]}
    steps = []
    for t in range(x.shape[1]):
        out, *following = session.run(None, {"input_layer": x[:, t:t + 1], **states})
        steps.append(out)
        states = dict(zip(names[1:], following))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), whole, rtol=1e-5, atol=1e-5)


def test_serving_example_runs_onnxruntime_alone(tmp_path):
    """examples/serve_onnx.py: the served forecasts (a process without torch or lstmkit) and the
    streamed one equal lstmkit's."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, os.path.join(root, "examples", "serve_onnx.py"), "--epochs", "2",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    served = float(done.stdout.split("largest difference from lstmkit's ")[1].split()[0])
    streamed = float(done.stdout.split("difference ")[-1].split()[0])
    assert served < 1e-5 and streamed < 1e-5, done.stdout
    assert (tmp_path / "forecast.onnx").exists() and (tmp_path / "forecast_stream.onnx").exists()


@pytest.mark.slow
def test_bench_onnx_times_the_three_ways():
    """`lstmkit bench --onnx`'s measurement on a tiny case: predict, the model called directly and
    onnxruntime, each positive, at both batch sizes."""
    from lstmkit import bench_compile, bench_serving

    case = bench_compile.CompileCase("tiny", (4, 5, 3), 2, lambda L: [L.LSTM(4), L.Dense(2)])
    ms = bench_serving.bench_case(case, rounds=1, steps=2)
    assert sorted(ms) == sorted(f"{k} {b}" for k in ("predict", "direct", "onnxruntime") for b in (1, 32))
    assert all(v > 0 for v in ms.values())


@pytest.mark.parametrize("recipe", ["mnist", "forecast", "text", "sentiment"])
def test_each_recipes_model(recipe, tmp_path):
    """The model each `lstmkit` recipe trains (the sentiment one reads a mask from its embedding's
    zero ids: the explicit loop)."""
    from lstmkit.recipes import forecast, mnist, sentiment, text

    torch.manual_seed(0)
    if recipe == "mnist":
        model, x = mnist.build_model(), frames(3, 28, 28)
    elif recipe == "forecast":
        model, x = forecast.build_model(12, 8), frames(3, 12, 1)
    elif recipe == "text":
        model, x = text.build_model(20, units=16), frames(3, 7, 20)
    else:
        model = sentiment.build_model(40, embedding_dim=8, units=6)
        x = np.random.default_rng(2).integers(1, 40, (4, 9)).astype(np.float32)
        x[0, :3] = 0  # padded at the start (Keras's pad_sequences default), another at the end
        x[1, -4:] = 0
    model.predict(x, verbose=0)  # (built by its first batch where it declares no input)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    assert_same_in_onnxruntime(model, model.export(tmp_path / f"{recipe}.onnx", format="onnx"), [x, x[:1]])


@pytest.mark.parametrize("layers,shape", [
    (lambda: [L.ConvLSTM2D(3, 3, padding="same", return_sequences=True), L.ConvLSTM2D(2, 3, strides=2), L.Flatten(),
              L.Dense(2)], (None, 8, 7, 2)),
    (lambda: [L.ConvLSTM2D(2, 3, use_bias=False, padding="same", data_format="channels_first",
                           return_sequences=True, recurrent_activation="hard_sigmoid"), L.Flatten(), L.Dense(2)],
     (5, 2, 6, 6)),
], ids=["same-then-strided", "channels-first-unbiased"])
def test_conv_lstm(layers, shape, tmp_path):
    """ConvLSTM2D as a Scan of its step (both convolutions in ONNX's channels-first layout)."""
    model = built(layers(), shape=shape)
    sizes = [[4 if d is None else d for d in shape], [6 if d is None else d for d in shape]]
    assert_same_in_onnxruntime(model, model.export(tmp_path / "conv.onnx", format="onnx"),
                               [frames(2, *sizes[0]), frames(3, *sizes[1], seed=2)])


def test_conv_lstm_with_a_mask(tmp_path):
    """A mask per sample and step (here from the frames, left and right padded), dilation, relu."""
    from lstmkit.saving.onnx import export_onnx

    class Masked(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = L.ConvLSTM2D(3, (3, 5), dilation_rate=2, activation="relu", return_sequences=True)

        def forward(self, x):
            return self.conv(x, mask=x.abs().sum((2, 3, 4)) > 0)

    torch.manual_seed(0)
    module = Masked()
    module(torch.randn(2, 4, 9, 10, 1))
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))
    module.eval()
    path = export_onnx(module, tmp_path / "masked.onnx", torch.randn(2, 4, 9, 10, 1))
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = frames(3, 5, 9, 10, 1)
    x[0, :2], x[2, -1:] = 0.0, 0.0
    expected = module(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x})[0], expected, rtol=1e-5, atol=1e-5)


def test_a_vocabulary_lookup_is_named(tmp_path):
    vectorize = L.TextVectorization(max_tokens=20, output_sequence_length=5)
    vectorize.adapt(["a small text", "another small one"])
    model = Sequential([L.Input((1,), dtype="string"), vectorize, L.Embedding(20, 4), L.LSTM(3), L.Dense(1)])
    with pytest.raises(ValueError, match=r"TextVectorization layer '\w+' cannot be exported to ONNX"):
        model.export(tmp_path / "text.onnx", format="onnx")


def test_bench_onnx_names_what_is_missing(monkeypatch, capsys):
    """Without onnxruntime, `lstmkit bench --onnx` says which package and the extra that brings it."""
    import importlib.util

    from lstmkit import bench_serving

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    assert bench_serving.run(rounds=1, steps=1) == 2
    assert "needs onnxruntime: pip install 'lstmkit[bench]'" in capsys.readouterr().out
