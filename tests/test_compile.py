"""The recurrent layers in torch's graph tools: `torch.compile` with no graph break inside a
layer (`torch._dynamo.explain`), outputs and gradients equal to eager ones; `torch.export` of
every layer, its program equal to eager on other batch sizes and lengths. The oracle is the same
model run eagerly (the fused kernels there are held to the reference cells in test_fused*.py)."""

from __future__ import annotations

import os

import pytest
import torch

from lstmkit import layers as L
from lstmkit.kernels import build
from lstmkit.models import Sequential

pytestmark = pytest.mark.skipif(not build.load(), reason=f"fused kernels unavailable: {build.failure()}")

MODELS = {
    "lstm": lambda: [L.LSTM(6, return_sequences=True), L.LSTM(5), L.Dense(2, activation="softmax")],
    "lstm-variants": lambda: [L.LSTM(6, layer_norm=True, peephole=True, return_sequences=True), L.Dense(2)],
    "gru": lambda: [L.GRU(6, return_sequences=True), L.GRU(5, reset_after=False), L.Dense(2)],
    "simple-rnn": lambda: [L.SimpleRNN(6, activation="relu", go_backwards=True), L.Dense(2)],
    "bidirectional": lambda: [L.Bidirectional(L.LSTM(4, return_sequences=True)), L.Bidirectional(L.GRU(3)), L.Dense(2)],
    "masked": lambda: [L.Masking(0.0), L.LSTM(5, return_sequences=True), L.GRU(4), L.Dense(2)],
    "cudnn-lstm": lambda: [L.CuDNNLSTM(5), L.Dense(2)],
}


def model_of(name: str, features: int = 3) -> Sequential:
    torch.manual_seed(0)
    model = Sequential([L.Input((None, features)), *MODELS[name]()])
    model.eval()
    return model


def data(batch: int = 4, steps: int = 7, features: int = 3) -> torch.Tensor:
    x = torch.randn(batch, steps, features, generator=torch.Generator().manual_seed(1))
    x[batch // 2, steps // 2:] = 0.0  # a padded tail (read as masked where a Masking layer is)
    return x


def outputs_and_gradients(model: Sequential, run, x: torch.Tensor) -> list[torch.Tensor]:
    """run(model, x)'s output and the gradients of a weighted sum of it, for x and every weight."""
    model.zero_grad(set_to_none=True)
    xx = x.clone().requires_grad_(True)
    y = run(xx)
    (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
    return [y.detach(), xx.grad] + [p.grad for p in model.parameters()]


def assert_close(a: list[torch.Tensor], b: list[torch.Tensor], what: str) -> None:
    assert len(a) == len(b)
    for i, (u, v) in enumerate(zip(a, b)):
        assert (u is None) == (v is None), f"{what}: tensor {i}"
        if u is not None:
            torch.testing.assert_close(v, u, rtol=1e-5, atol=1e-6, msg=lambda m: f"{what}, tensor {i}: {m}")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_compile_has_no_graph_break_and_matches_eager(name):
    torch._dynamo.reset()
    model = model_of(name)
    x = data()
    explained = torch._dynamo.explain(model)(x)
    assert explained.graph_break_count == 0, [str(b.reason).splitlines()[0] for b in explained.break_reasons]
    eager = outputs_and_gradients(model, model, x)
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    assert_close(eager, outputs_and_gradients(model, compiled, x), f"{name} compiled")


def test_compile_with_inductor_trains_as_eager():
    """The default backend (inductor, which generates C++ for the layers around the kernels):
    the seed model's shape, one training step's loss and weights equal to eager."""
    torch._dynamo.reset()

    def step(model, forward):
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = data(8, 6, 5), torch.arange(8) % 3
        loss = torch.nn.functional.cross_entropy(forward(x), y)
        loss.backward()
        opt.step()
        return [loss.detach()] + [p.detach().clone() for p in model.parameters()]

    def seed_like():
        torch.manual_seed(3)
        return Sequential([L.Input((6, 5)), L.LSTM(8, return_sequences=True), L.LSTM(8), L.Dense(3)])

    eager_model = seed_like()
    compiled_model = seed_like()
    # torch 2.13's inductor writes vector code that its headers do not declare when
    # ATEN_CPU_CAPABILITY=default (the CI's second run): scalar code there
    scalar = {"cpp.simdlen": 1} if os.environ.get("ATEN_CPU_CAPABILITY") == "default" else {}
    with torch._inductor.config.patch(scalar):
        compiled = step(compiled_model, torch.compile(compiled_model))
    assert_close(step(eager_model, eager_model), compiled, "inductor")


def test_conv_lstm_compiles_and_exports():
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = Sequential([L.Input((None, 6, 5, 2)), L.ConvLSTM2D(3, 3, padding="same", return_sequences=True),
                        L.ConvLSTM2D(2, 3, strides=2), L.Flatten(), L.Dense(2)])
    x = torch.randn(2, 4, 6, 5, 2)
    explained = torch._dynamo.explain(model)(x)
    assert explained.graph_break_count == 0
    eager = outputs_and_gradients(model, model, x)
    assert_close(eager, outputs_and_gradients(model, torch.compile(model, backend="aot_eager"), x), "ConvLSTM2D")
    program = torch.export.export(model, (x,))
    torch.testing.assert_close(program.module()(x), model(x))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_export_runs_other_batches_and_lengths(name):
    """`torch.export.export` of each layer with the batch and time axes dynamic: the program
    holds no test of the data, and predicts as the model does on other shapes."""
    model = model_of(name)
    x = data()
    batch, steps = torch.export.Dim("batch", min=1, max=64), torch.export.Dim("steps", min=2, max=64)
    program = torch.export.export(model, (x,), dynamic_shapes=({0: batch, 1: steps},))
    run = program.module()
    for shape in ((4, 7), (1, 3), (9, 12)):
        other = data(*shape)
        torch.testing.assert_close(run(other), model(other), rtol=1e-5, atol=1e-6)
    called = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert "lstmkit.sequence.default" in called, called  # the fused kernels, not an unrolled loop


@pytest.mark.slow
def test_bench_compile_times_eager_and_compiled():
    """`lstmkit bench --compile`'s measurement on a tiny case: four timings, each positive."""
    from lstmkit import bench_compile

    case = bench_compile.CompileCase("tiny", (4, 5, 3), 2, lambda L: [L.LSTM(4), L.Dense(2)])
    ms = bench_compile.bench_case(case, rounds=1, steps=1)
    assert sorted(ms) == ["compiled infer", "compiled train", "eager infer", "eager train"]
    assert all(v > 0 for v in ms.values())


BREADTH = {
    "conv1d-pool": ([L.Conv1D(4, 3, padding="same", activation="relu"), L.MaxPooling1D(2), L.LSTM(3), L.Dense(2)],
                    (8, 3)),
    "time-distributed": ([L.LSTM(4, return_sequences=True), L.TimeDistributed(L.Dense(2))], (None, 3)),
    "repeat-vector": ([L.LSTM(4), L.RepeatVector(3), L.GRU(2, return_sequences=True)], (None, 3)),
    "normalizations": ([L.LayerNormalization(), L.BatchNormalization(), L.LSTM(4), L.Dense(2)], (None, 3)),
    "noise-and-dropout": ([L.GaussianNoise(0.1), L.SpatialDropout1D(0.2), L.LSTM(4), L.Dropout(0.3), L.Dense(2)],
                          (None, 3)),
    "embedding-mask-zero": ([L.Embedding(20, 4, mask_zero=True), L.LSTM(3), L.Dense(1)], (None,)),
    "pooling-flatten": ([L.Conv1D(4, 2), L.GlobalAveragePooling1D(), L.Dense(2)], (6, 3)),
    "activation-layers": ([L.LSTM(4, return_sequences=True), L.LeakyReLU(), L.PReLU(), L.Softmax(), L.Flatten(),
                           L.Dense(2)], (5, 3)),
    "conv2d": ([L.Conv2D(3, 3), L.MaxPooling2D(), L.Flatten(), L.Dense(2)], (8, 8, 1)),
    "conv-lstm": ([L.ConvLSTM2D(2, 3, padding="same"), L.Flatten(), L.Dense(2)], (None, 6, 6, 1)),
}


@pytest.mark.parametrize("name", sorted(BREADTH))
def test_export_of_the_other_layers(name):
    """torch.export of models mixing the recurrent layers with the others lstmkit has, the open
    axes dynamic: no test of the data in any layer's forward, and the program predicts as eager."""
    layers, shape = BREADTH[name]
    torch.manual_seed(0)
    model = Sequential([L.Input(shape), *layers])
    model.eval()

    def batch(n, steps):
        x = torch.rand(n, *[steps if d is None else d for d in shape])
        return (x * 19).round() if name.startswith("embedding") else x

    axes = {0: torch.export.Dim("batch", min=1)}
    if shape[0] is None:
        axes[1] = torch.export.Dim("steps", min=2)
    program = torch.export.export(model, (batch(2, 4),), dynamic_shapes=(axes,))
    other = batch(3, 6)
    torch.testing.assert_close(program.module()(other), model(other), rtol=1e-5, atol=1e-6)
