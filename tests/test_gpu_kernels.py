"""The fused GPU kernels (lstmkit/kernels/gpu/, Triton) against the reference cells.

Without a GPU they run on the CPU under Triton's interpreter (TRITON_INTERPRET=1, which the
repository's conftest.py sets before Triton first sees a kernel) on small shapes: same layers, same weights, same dropout draws as the
reference loop, outputs, final states and the gradients of the input, every weight and the
initial states compared in float32 against the float64 result, as test_fused.py does for the CPU
kernels. With a CUDA device they run there as well, against the reference on the same device and
against cuDNN.
"""

from __future__ import annotations

import importlib.util
import os
import unittest.mock

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from lstmkit import activations, kernels
from lstmkit.kernels import fused
from lstmkit.layers import GRU, LSTM, CuDNNLSTM, SimpleRNN

from test_fused import CELLS, Float32Ledger, random_mask, run_layer, scaled_errors

pytestmark = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="Triton is not installed")


@pytest.fixture
def triton_path(monkeypatch):
    """Sends the fused path's CPU tensors to the Triton kernels, and counts their calls."""
    if os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("CPU tensors need Triton's interpreter; with a GPU the CUDA tests below check the kernels")
    from lstmkit.kernels import gpu

    calls = []
    backend = gpu.BACKEND

    class Counting:
        def forward(self, cell, tensors, options):
            calls.append(("forward", cell))
            return backend.forward(cell, tensors, options)

        def backward(self, cell, tensors, options):
            calls.append(("backward", cell))
            return backend.backward(cell, tensors, options)

    monkeypatch.setattr(fused, "_force_triton", True)
    monkeypatch.setattr(gpu, "BACKEND", Counting())
    return calls


@pytest.fixture(params=["steps", "sequence"])
def driver(request):
    """Runs the test under each of the GPU loop's drivers: a launch per step (the product in
    torch), and one kernel for the sequence (the product inside it)."""
    from lstmkit.kernels.gpu import loop

    with loop.driven_by(request.param):
        yield request.param


def compare_on_triton(calls, layer_cls, x, mask, *, with_state=False, units=5, perturb=0.1, **options):
    label = f"{layer_cls.__name__} {options} mask={mask is not None} state={with_state}"
    ref = run_layer(layer_cls, "reference", x, mask, torch.float32, with_state=with_state, units=units,
                    perturb=perturb, **options)
    exact = run_layer(layer_cls, "reference", x, mask, torch.float64, with_state=with_state, units=units,
                      perturb=perturb, build_dtype=torch.float32, **options)
    before = len(calls)
    fus = run_layer(layer_cls, "fused", x, mask, torch.float32, with_state=with_state, units=units, perturb=perturb,
                    **options)
    assert [kind for kind, _ in calls[before:]] == ["forward", "backward"], f"{label}: not run by the Triton kernels"
    ledger = Float32Ledger()
    ledger.add(label, ref, fus, exact)
    ledger.check()


FLAGS = [  # return_sequences, go_backwards, masked, initial state
    (True, False, True, True),
    (False, True, True, False),
    (True, True, False, True),
    (False, False, False, False),
]


@pytest.mark.parametrize("layer_cls,extra", CELLS, ids=lambda v: v.__name__ if isinstance(v, type) else str(v))
def test_variant_matrix_on_triton(triton_path, driver, layer_cls, extra):
    """Each cell and variant, masked and not, forwards and backwards, with dropout and recurrent
    dropout, initial states, go_backwards, zero_output_for_mask, no bias. The sequence kernel
    leaves out the plainest set (its code paths are in the others; the suite's time)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 4, generator=g)
    for rs, gb, masked, with_state in FLAGS if driver == "steps" else FLAGS[:3]:
        mask = random_mask(3, 5, g) if masked else None
        options = dict(extra, return_sequences=rs, go_backwards=gb, return_state=True)
        if layer_cls is not CuDNNLSTM:
            options.update(recurrent_dropout=0.3 if rs else 0.0, dropout=0.2 if gb else 0.0,
                           use_bias=not (rs and gb), zero_output_for_mask=masked and rs)
        compare_on_triton(triton_path, layer_cls, x, mask, with_state=with_state, **options)


@pytest.mark.parametrize("options", [{"padding": "same"}, {"strides": 2, "recurrent_dropout": 0.3, "go_backwards": True},
                                     {"dilation_rate": 2, "use_bias": False}],
                         ids=["same", "strided-dropout-backwards", "dilated-unbiased"])
def test_conv_lstm_on_triton(triton_path, options):
    """ConvLSTM2D through the Triton loop (the LSTM's kernels over channels-last rows, the
    recurrent convolution in torch), in float32 against the reference's float64 result."""
    from test_fused_conv_lstm import run_layer as run_conv

    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 6, 5, 2, generator=g, dtype=torch.float64)
    mask = torch.tensor([[True, False, True, True], [False, True, True, False]])
    for sequences, with_state in ((True, True), (False, False)):
        opts = dict(options, return_sequences=sequences)
        exact = run_conv("reference", x, mask, with_state, dict(opts))
        reference = run_conv("reference", x, mask, with_state, dict(opts), dtype=torch.float32)
        before = len(triton_path)
        fused_run = run_conv("fused", x, mask, with_state, dict(opts), dtype=torch.float32)
        assert [kind for kind, _ in triton_path[before:]] == ["forward", "backward"]
        for i, (e, r, f) in enumerate(zip(exact, reference, fused_run)):
            reference_error, fused_error = scaled_errors([r, f], [e, e])
            assert fused_error <= max(1e-5, 4 * reference_error), f"{opts}: tensor {i}"


def test_rows_longer_than_one_block_and_unpadded_widths(triton_path, driver):
    """Units that are not a power of two (the kernels pad rows to one) and more than the minimum
    block: 37 units, a batch of 6."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(6, 4, 3, generator=g)
    mask = random_mask(6, 4, g)
    for cls, extra in ((LSTM, {"layer_norm": True, "peephole": True}), (GRU, {"reset_after": False}), (SimpleRNN, {})):
        compare_on_triton(triton_path, cls, x, mask, units=37, return_sequences=True, recurrent_dropout=0.2, **extra)


@pytest.mark.parametrize("layer_cls,extra", [(LSTM, {"peephole": True}), (GRU, {"reset_after": False}), (GRU, {})],
                         ids=["LSTM", "GRU-v1", "GRU"])
def test_wide_rows_in_the_sequence_kernel(triton_path, layer_cls, extra):
    """150 units: the sequence kernel's in-kernel product runs over several tiles of U's rows and
    columns per gate (rows padded to 256, tiles of 32 rows by 128 columns), partly empty ones."""
    from lstmkit.kernels.gpu import loop

    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 4, generator=g)
    mask = torch.tensor([[True, True, False], [True, False, True]])
    with loop.driven_by("sequence"):
        compare_on_triton(triton_path, layer_cls, x, mask, units=150, return_sequences=True, **extra)


@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN], ids=lambda c: c.__name__)
def test_the_sequence_driver_runs_no_product_per_step(triton_path, monkeypatch, cls):
    """Per step, every step's recurrent product (and its backward) is a torch product into the
    loop's buffers (`out=`); in the sequence kernel none is: the kernel computes them (the input
    product x W + b of all steps stays torch's). Both give the reference's results."""
    from lstmkit.kernels.gpu import loop

    products = []
    for name in ("mm", "addmm"):
        real = getattr(torch, name)

        def counted(*a, real=real, name=name, **k):
            if "out" in k:
                products.append(name)
            return real(*a, **k)

        monkeypatch.setattr(torch, name, counted)
    x = torch.randn(3, 6, 4)
    counts = {}
    for chosen in ("steps", "sequence"):
        del products[:]
        with loop.driven_by(chosen):
            compare_on_triton(triton_path, cls, x, None, units=8, return_sequences=True)
        counts[chosen] = len(products)
    assert counts["steps"] >= 2 * 6 and counts["sequence"] == 0, counts


def test_bench_times_both_drivers(triton_path):
    """`lstmkit bench --device cuda` adds `fused steps` and `fused sequence` (here on the CPU
    tensors of Triton's interpreter, a tiny case): each contender runs the Triton loop under its
    driver, and each gets its times."""
    from lstmkit import bench
    from lstmkit.kernels.gpu import loop

    seen = []
    whole = loop.whole_sequence

    def spy(cell, seq):
        seen.append(whole(cell, seq))
        return seen[-1]

    case = bench.Case("tiny", batch=2, steps=3, features=4, units=8, classes=3)
    with unittest.mock.patch.object(loop, "whole_sequence", spy):
        results = bench.bench_case(case, rounds=1, steps_per_round=1, gpu_drivers=True)
    assert {"fused", "fused steps", "fused sequence"} <= set(results)
    assert all(results[n].train_ms and results[n].infer_ms for n in ("fused steps", "fused sequence"))
    assert True in seen and False in seen  # the sequence kernel ran, and the per-step loop
    assert "fused sequence" in bench.report(case, results)


def test_the_host_time_benchmark_runs_each_layer_and_cudnn_s_peer():
    """benchmarks/gpu_host_time.py on the CPU (every kernel launch a no-op): a row per layer and
    torch.nn.LSTM's, each with its times and its Python and torch calls counted."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "benchmarks/gpu_host_time.py", "--rounds", "1", "--calls", "2"],
                          capture_output=True, text=True, timeout=300, env=env,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {line[:32].strip(): line.split()[-5:] for line in done.stdout.splitlines()[2:]}  # after the headings
    for name in ("lstmkit LSTM, GPU path", "lstmkit GRU, GPU path", "lstmkit SimpleRNN, GPU path",
                 "torch.nn.LSTM (CPU)", "lstmkit training step", "PyTorch training step"):
        assert name in rows and all(v.isdigit() and int(v) > 0 for v in rows[name]), (name, done.stdout)
        operators, launches = map(int, rows[name][-2:])
        assert launches < operators, (name, done.stdout)  # views and allocations launch nothing


def test_the_driver_rule(monkeypatch):
    """auto: one kernel for the sequence on a CUDA device where each SM's rows stream at most
    SEQUENCE_BYTES of U per step, a launch per step beyond (and off CUDA: the interpreter);
    $LSTMKIT_GPU_LOOP or driven_by choose; other names are refused by name."""
    from types import SimpleNamespace

    from lstmkit.kernels.gpu import loop

    monkeypatch.setattr(loop, "_multiprocessors", lambda device: 132)  # an H100's SMs

    def seq(batch, units, gates=4, is_cuda=True):
        x = SimpleNamespace(is_cuda=is_cuda, device="cuda:0")
        return SimpleNamespace(x=x, B=batch, U=torch.empty(units, gates * units))

    lstm_cell, conv_cell = SimpleNamespace(sequence_kernel=True), SimpleNamespace(sequence_kernel=False)
    monkeypatch.delenv("LSTMKIT_GPU_LOOP", raising=False)
    assert loop.driver() == "auto"
    assert loop.whole_sequence(lstm_cell, seq(32, 128))  # the seed model: 256 KiB of U per SM
    assert loop.whole_sequence(lstm_cell, seq(256, 128))  # two rows per SM
    assert loop.whole_sequence(lstm_cell, seq(64, 256))  # the char model: 1 MiB
    assert not loop.whole_sequence(lstm_cell, seq(32, 512))  # 4 MiB
    assert not loop.whole_sequence(lstm_cell, seq(1024, 256))  # eight rows per SM
    assert not loop.whole_sequence(lstm_cell, seq(32, 128, is_cuda=False))
    assert not loop.whole_sequence(conv_cell, seq(32, 128))
    monkeypatch.setenv("LSTMKIT_GPU_LOOP", "steps")
    assert not loop.whole_sequence(lstm_cell, seq(32, 128))
    with loop.driven_by("sequence"):  # over the environment
        assert loop.whole_sequence(lstm_cell, seq(32, 512, is_cuda=False))
        assert not loop.whole_sequence(conv_cell, seq(32, 128))
    monkeypatch.setenv("LSTMKIT_GPU_LOOP", "fast")
    with pytest.raises(ValueError, match="LSTMKIT_GPU_LOOP='fast'"):
        loop.driver()
    with pytest.raises(ValueError, match="driven_by"):
        with loop.driven_by("persistent"):
            pass


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(activations.names())))
def test_every_registry_activation_on_triton(triton_path, name):
    x = 0.2 * torch.randn(4, 4, 3)
    mask = random_mask(4, 4, torch.Generator().manual_seed(1))
    compare_on_triton(triton_path, LSTM, x, mask, perturb=0.0, activation=name, return_sequences=True)
    compare_on_triton(triton_path, GRU, x, None, perturb=0.0, activation=name)
    compare_on_triton(triton_path, LSTM, x, None, perturb=0.0, recurrent_activation=name)
    # two steps: an Elman recurrence through exp overflows within a few, in either implementation
    compare_on_triton(triton_path, SimpleRNN, x[:, :2], mask[:, :2], perturb=0.0, activation=name,
                      return_sequences=True)


@pytest.mark.parametrize("layer_cls,extra", [(LSTM, {"layer_norm": True, "peephole": True, "zoneout": 0.2}),
                                             (GRU, {"reset_after": False}), (SimpleRNN, {})],
                         ids=["LSTM", "GRU", "SimpleRNN"])
def test_an_empty_batch_gives_empty_results_on_triton(triton_path, driver, layer_cls, extra):
    """Zero samples: the reference's empty outputs, states and gradients, no gradient on any weight."""
    x = torch.randn(0, 5, 4)
    mask = torch.ones(0, 5, dtype=torch.bool)
    options = dict(extra, return_sequences=True, return_state=True, recurrent_dropout=0.3)
    ref = run_layer(layer_cls, "reference", x, mask, torch.float32, with_state=True, **options)
    fus = run_layer(layer_cls, "fused", x, mask, torch.float32, with_state=True, **options)
    assert [kind for kind, _ in triton_path] == ["forward", "backward"]
    assert [tuple(t.shape) for t in fus.outputs] == [tuple(t.shape) for t in ref.outputs]
    assert [tuple(t.shape) for t in fus.grads] == [tuple(t.shape) for t in ref.grads]
    for name, t in zip(fus.grad_names, fus.grads):
        if name != "input" and not name.startswith("state"):
            assert torch.count_nonzero(t) == 0, name


def test_inference_without_grad_runs_the_forward_only(triton_path, driver):
    torch.manual_seed(0)
    x = torch.randn(3, 6, 2)
    for cls, name in ((LSTM, "lstm"), (GRU, "gru"), (SimpleRNN, "simple_rnn")):
        torch.manual_seed(0)
        ref = cls(4, return_sequences=True, implementation="reference")
        ref.ensure_built((None, 6, 2))
        fus = cls(4, return_sequences=True, implementation="fused")
        fus.ensure_built((None, 6, 2))
        fus.set_weights(ref.get_weights())
        del triton_path[:]
        with torch.no_grad():
            torch.testing.assert_close(fus(x), ref(x), rtol=0, atol=1e-5)
        assert triton_path == [("forward", name)]


def test_half_precision_inputs_project_in_float16_and_loop_in_float32(triton_path):
    """A float16 input with float32 weights: x W in float16 (the reference cell's input_product),
    float32 states and results, a float16 input gradient."""
    torch.manual_seed(0)
    layer = LSTM(4, return_sequences=True)
    layer.ensure_built((None, 5, 3))
    cell = layer.cell
    x = torch.randn(2, 5, 3).half().requires_grad_(True)
    state = (torch.zeros(2, 4), torch.zeros(2, 4))
    out, _ = fused.fused_sequence(cell, x, state, layer.sequence, mask=None, recurrent_mask=None)
    assert out.dtype == torch.float32
    out.sum().backward()
    assert x.grad is not None and x.grad.dtype == torch.float16
    expected = kernels.reference_sequence(cell, cell.project_inputs(x.detach()), state, mask=None,
                                          recurrent_mask=None, return_sequences=True, zero_output_for_mask=False)[0]
    torch.testing.assert_close(out.detach(), expected.detach(), rtol=0, atol=1e-5)


def test_without_triton_cuda_layers_say_what_is_missing(monkeypatch):
    from lstmkit.kernels import gpu

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "triton" else object())
    assert "pip install triton" in gpu.unavailable()


# ---- on a real GPU (skipped without one) ----------------------------------------------------------

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def compare_on_cuda(layer_cls, x, mask, implementation="auto", *, units=16, perturb=0.1, **options):
    """The layer on the GPU through the GPU kernels, against the reference loop on the GPU, both
    measured against the reference's float64 result (the float32 tolerance of test_fused.py)."""
    label = f"{layer_cls.__name__} {options} mask={mask is not None}"
    runs = [run_layer(layer_cls, impl, x, mask, dtype, units=units, perturb=perturb, build_dtype=torch.float32,
                      device="cuda", **options)
            for impl, dtype in (("reference", torch.float32), (implementation, torch.float32),
                                ("reference", torch.float64))]
    layer = layer_cls(units, implementation=implementation, **options).cuda()
    layer.ensure_built((None, *x.shape[1:]))
    assert fused.unsupported(layer.cell, x.cuda()) is None, f"{label}: the GPU kernels cannot run"
    ledger = Float32Ledger()
    ledger.add(label, *runs)
    ledger.check()


@cuda
@pytest.mark.parametrize("layer_cls,extra", CELLS, ids=lambda v: v.__name__ if isinstance(v, type) else str(v))
def test_auto_picks_the_gpu_kernels_and_matches_the_reference_on_cuda(layer_cls, extra):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 9, 4, generator=g)
    mask = random_mask(16, 9, g)
    # no dropout here: the float64 run would draw other masks on CUDA (the interpreter tests
    # above cover the recurrent dropout mask, which the GPU kernels take like any other input)
    compare_on_cuda(layer_cls, x, mask, units=32, return_sequences=True, return_state=True, **extra)


@cuda
@pytest.mark.parametrize("chosen", ["steps", "sequence"])
@pytest.mark.parametrize("layer_cls,extra", CELLS, ids=lambda v: v.__name__ if isinstance(v, type) else str(v))
def test_both_drivers_match_the_reference_on_cuda(layer_cls, extra, chosen):
    """Each driver forced on the GPU (the sequence kernel's barriers and in-kernel products run
    only there): 150 units (several tiles of U per gate), masked, against the reference."""
    from lstmkit.kernels.gpu import loop

    g = torch.Generator().manual_seed(4)
    x = torch.randn(40, 7, 5, generator=g)
    mask = random_mask(40, 7, g)
    with loop.driven_by(chosen):
        compare_on_cuda(layer_cls, x, mask, "fused", units=150, return_sequences=True, return_state=True, **extra)


@cuda
@pytest.mark.parametrize("name", sorted(set(activations.names())))
def test_every_registry_activation_on_cuda(name):
    # test_fused.py's shapes: unbounded activations (exponential, relu) must not overflow
    x = 0.2 * torch.randn(6, 5, 3)
    mask = random_mask(6, 5, torch.Generator().manual_seed(1))
    compare_on_cuda(LSTM, x, mask, "fused", units=5, perturb=0.0, activation=name, return_sequences=True)
    compare_on_cuda(LSTM, x, None, "fused", units=5, perturb=0.0, recurrent_activation=name)
    compare_on_cuda(GRU, x, None, "fused", units=5, perturb=0.0, activation=name)
    compare_on_cuda(SimpleRNN, x[:, :2], mask[:, :2], "fused", units=5, perturb=0.0, activation=name,
                    return_sequences=True)


@cuda
def test_gpu_lstm_matches_cudnn():
    torch.manual_seed(0)
    layer = LSTM(64, return_sequences=True, implementation="fused").cuda()
    layer.ensure_built((None, 20, 16))
    torch_lstm = torch.nn.LSTM(16, 64, batch_first=True).cuda()
    W, U = layer.cell.kernel, layer.cell.recurrent_kernel
    with torch.no_grad():  # Keras's (D, 4H) gate blocks i, f, c, o are torch's i, f, g, o
        torch_lstm.weight_ih_l0.copy_(W.t())
        torch_lstm.weight_hh_l0.copy_(U.t())
        torch_lstm.bias_ih_l0.copy_(layer.cell.input_bias())
        torch_lstm.bias_hh_l0.zero_()
    x = torch.randn(32, 20, 16, device="cuda")
    with torch.no_grad():
        torch.testing.assert_close(layer(x), torch_lstm(x)[0], rtol=1e-4, atol=1e-5)


def test_compiled_model_runs_the_triton_kernels(triton_path):
    """torch.compile on the GPU backend: the graph's operators (kernels/ops.py) call the Triton
    loop, forward and, for the gradient, forward again and backward; equal to eager."""
    from test_compile import assert_close, model_of, data, outputs_and_gradients

    torch._dynamo.reset()
    model = model_of("lstm")
    x = data()
    eager = outputs_and_gradients(model, model, x)
    before = len(triton_path)
    compiled = outputs_and_gradients(model, torch.compile(model, backend="aot_eager", fullgraph=True), x)
    assert [kind for kind, _ in triton_path[before:]].count("backward") == 2  # two LSTM layers
    assert_close(eager, compiled, "compiled on Triton")


def test_every_kernel_compiles_for_the_gpu():
    """Every kernel in both drivers and its main option sets compiles to a CUDA binary for sm_90
    (Triton's compiler and ptxas, no GPU needed: tests/compile_gpu_kernels.py, which compiles for
    sm_80 as well when run by hand), in its own process without the interpreter. CI runs it on
    each Triton it tests."""
    import pathlib
    import subprocess
    import sys

    import triton

    ptxas = pathlib.Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
    if not ptxas.exists():
        pytest.skip(f"this Triton carries no ptxas ({ptxas})")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    script = pathlib.Path(__file__).with_name("compile_gpu_kernels.py")
    done = subprocess.run([sys.executable, str(script), "90"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    compiled = [line for line in done.stdout.splitlines() if line.startswith("compiled ")]
    assert len(compiled) >= 38 and any("_forward_kernel (LSTM sequence every option" in c for c in compiled)


def test_ci_runs_the_ends_of_the_triton_range():
    """pyproject.toml's Triton range and the versions .ci/run tests the interpreter on agree: the
    lower bound is the oldest run, and the newest run is below the upper bound."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1]
    ranges = set(re.findall(r'"triton>=([\d.]+),<([\d.]+)', (root / "pyproject.toml").read_text()))
    assert len(ranges) == 1, ranges  # the dev extra's and the gpu extra's are the same
    low, high = ranges.pop()
    loop = re.search(r"for version in ([\d. ]+); do", (root / ".ci" / "run").read_text())
    assert loop is not None
    versions = loop.group(1).split()

    def key(v):
        return tuple(int(p) for p in v.split("."))

    assert key(versions[0]) == key(low) + (0,) * (3 - len(key(low)))
    assert key(low) <= key(versions[-1]) < key(high)


@pytest.mark.parametrize("make", [
    lambda i: LSTM(6, return_sequences=True, implementation=i),
    lambda i: LSTM(6, layer_norm=True, peephole=True, implementation=i),
    lambda i: GRU(6, return_sequences=True, implementation=i),
    lambda i: GRU(6, reset_after=False, implementation=i),
    lambda i: SimpleRNN(6, return_sequences=True, implementation=i),
], ids=["lstm", "lstm-ln-peephole", "gru", "gru-v1", "simple_rnn"])
@pytest.mark.parametrize("low", [torch.bfloat16, torch.float16], ids=["bfloat16", "float16"])
def test_a_mixed_precision_input_on_triton(triton_path, driver, make, low):
    """A mixed-precision layer's x (bfloat16 / float16) with float32 weights: x W in x's dtype,
    the loop in float32, as the reference cell specifies (cells/_cell.py input_product); the
    gradients of x come back in its dtype."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4, 7, 5, generator=g).to(low)
    runs = []
    for implementation in ("fused", "reference"):
        torch.manual_seed(0)
        layer = make(implementation)
        layer.build((None, 7, 5))
        xx = x.clone().requires_grad_()
        out = layer.call(xx)  # the layer's own computation, given the low-precision x
        out.square().sum().backward()
        assert out.dtype == torch.float32 and xx.grad.dtype == low
        runs.append([out, xx.grad.float(), *(p.grad for p in layer.parameters())])
    assert [kind for kind, _ in triton_path] == ["forward", "backward"]
    for a, b in zip(*runs):  # the same low-precision products, float32 sums in another order
        torch.testing.assert_close(a, b, rtol=0, atol=float(1e-5 + 2e-3 * b.detach().abs().max()))


@pytest.mark.parametrize("layer_cls", [LSTM, GRU])
def test_final_states_left_unused_on_triton(triton_path, driver, layer_cls):
    """Without return_state the final states' gradients do not arrive (autograd gives None, not
    zeros): the backward takes them as zeros in its own buffers. Against the reference."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, 5, 4, generator=g)
    for sequences in (True, False):
        compare_on_triton(triton_path, layer_cls, x, random_mask(3, 5, g), with_state=True,
                          return_sequences=sequences, return_state=False)


@pytest.fixture
def poisoned_memory():
    """New tensors made without a value (`torch.empty`, `new_empty`) hold NaN: torch fills them so
    under deterministic algorithms. A kernel that reads a slot it has not written gives NaN."""
    import torch.utils.deterministic

    before = torch.are_deterministic_algorithms_enabled(), torch.utils.deterministic.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True)
    torch.utils.deterministic.fill_uninitialized_memory = True
    try:
        assert torch.empty(3).isnan().all()
        yield
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.utils.deterministic.fill_uninitialized_memory = before[1]


@pytest.mark.parametrize("layer_cls", [LSTM, GRU, SimpleRNN], ids=lambda c: c.__name__)
def test_the_loop_reads_only_what_it_wrote_on_triton(triton_path, driver, poisoned_memory, layer_cls):
    """Every buffer the GPU loop makes holds NaN until written: the states' first slots (cleared
    for a start from zeros, copied in for given states), the last output alone (zeros only where
    a masked step repeats it) and the backward's. Against the reference, every output and
    gradient, for the masking cases of the last output and both ways of starting."""
    g = torch.Generator().manual_seed(6)
    x = torch.randn(3, 5, 4, generator=g)
    mask = random_mask(3, 5, g)
    for masked, zero_output, with_state in [(False, False, False), (True, False, False), (True, True, True),
                                            (False, False, True)]:
        compare_on_triton(triton_path, layer_cls, x, mask if masked else None, with_state=with_state,
                          return_sequences=False, return_state=True, zero_output_for_mask=zero_output,
                          recurrent_dropout=0.3 if with_state else 0.0)


def _no_launches(monkeypatch):
    """The GPU path on CPU tensors with every Triton kernel a no-op: what is left are the torch
    operators around the kernels (benchmarks/gpu_host_time.py's stand-in)."""
    from lstmkit.kernels.gpu import gru, lstm, simple_rnn

    class NoLaunch:
        def __getitem__(self, grid):
            return lambda *args, **kwargs: None

    for module in (lstm, gru, simple_rnn):
        for name in ("_forward_kernel", "_backward_kernel", "_gates_kernel", "_reset_backward_kernel"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, NoLaunch())
    monkeypatch.setattr(fused, "_force_triton", True)


class _Operators(TorchDispatchMode):
    """The names of the torch operators run inside the block."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("backend", ["triton", "cpu"])
@pytest.mark.parametrize("layer_cls", [LSTM, GRU], ids=lambda c: c.__name__)
def test_final_states_are_copied_only_where_kept(monkeypatch, backend, layer_cls):
    """The final states are tensors of their own where the layer keeps them (return_state,
    stateful: a view would keep the loop's whole (T + 1, B, H) buffer alive with them); else the
    kernels return views of their buffers, one copy less per state (a launch each on a GPU).
    Both backends take the option."""
    if backend == "triton":
        _no_launches(monkeypatch)
    elif not kernels.build.load():
        pytest.skip(kernels.build.failure() or "the CPU kernels do not build")
    x = torch.randn(2, 6, 3)
    copies = {}
    for keep in (False, True):
        layer = layer_cls(8, implementation="fused", return_state=keep)
        layer(x)
        with _Operators() as ops:
            got = layer(x, training=True)
        copies[keep] = ops.seen.count("clone")
        if keep:
            for state in got[1:]:
                assert state.untyped_storage().nbytes() == state.numel() * state.element_size()
    if backend == "triton":  # (the C++ kernels copy inside their operator, out of torch's sight)
        assert copies[True] - copies[False] == layer.cell.state_count, copies
    stateful = layer_cls(8, implementation="fused", stateful=True)
    stateful(x, training=True)
    for state in stateful.states:
        assert state.untyped_storage().nbytes() == state.numel() * state.element_size()


@pytest.mark.parametrize("layer_cls", [LSTM, GRU], ids=lambda c: c.__name__)
def test_a_start_from_zeros_costs_one_launch(monkeypatch, driver, layer_cls):
    """A layer called without initial states starts from zeros that allocate nothing
    (`zero_state`): the GPU loop clears the first slot of every state and of the recurrent input
    in one launch (it made two zero tensors and copied three slots: five launches, each a wait of
    the host at a small batch), and the backward computes no gradient for them nor copies the
    batch-first input time-major again (the forward's copy is the one it reads). The torch
    operators around the kernels are counted (the kernels replaced by no-ops, as in
    benchmarks/gpu_host_time.py: the interpreter's own copies are not the loop's)."""
    _no_launches(monkeypatch)
    layer = layer_cls(8, implementation="fused", recurrent_dropout=0.25)
    x = torch.randn(2, 5, 3)
    layer(x)
    with _Operators() as forward:
        out = layer(x, training=True)
    fills = [op for op in forward.seen if op in ("zeros", "zero_", "new_zeros", "fill_", "copy_", "zeros_like")]
    assert fills == ["zero_"], fills
    with _Operators() as backward:
        out.backward(torch.ones_like(out))
    assert "add" not in backward.seen, " ".join(backward.seen)  # no h0 gradient (dh0 = DH + BACK·rmask)
    assert "clone" not in backward.seen, " ".join(backward.seen)  # x laid out time-major once, not again
    given = [torch.zeros(2, 8) for _ in range(layer.cell.state_count)]
    with _Operators() as forward:
        layer(x, training=True, initial_state=given)
    assert forward.seen.count("copy_") == layer.cell.state_count and "zero_" not in forward.seen


def test_zero_states_are_kept_zeros_that_refuse_a_write():
    """`zero_state` gives views of one zero per device and dtype: recognised by `is_zero_state`
    (a zeros tensor of the same shape is not), plain zeros to arithmetic, and an in-place write
    into one is refused by torch, so the kept zero cannot change."""
    from lstmkit.cells import is_zero_state, zero_state

    a = zero_state((3, 4), dtype=torch.float32, device="cpu")
    b = zero_state((2, 5), dtype=torch.float32, device=torch.device("cpu"))
    assert is_zero_state(a) and is_zero_state(b) and a.data_ptr() == b.data_ptr()
    assert not is_zero_state(torch.zeros(3, 4)) and not is_zero_state(torch.zeros(()).expand(3, 4))
    assert not is_zero_state(zero_state((0, 4), dtype=torch.float32, device="cpu"))
    assert is_zero_state(zero_state((3, 4), dtype=torch.float64, device="cpu").reshape(12))
    torch.testing.assert_close(a + 1, torch.ones(3, 4), rtol=0, atol=0)
    with pytest.raises(RuntimeError):
        a.add_(1)
    with pytest.raises(RuntimeError):
        a.copy_(torch.ones(3, 4))
    assert not zero_state((1,), dtype=torch.float32, device="cpu").any()


def test_each_initial_state_gets_its_gradient_unless_it_is_kept_zeros(triton_path):
    """An LSTM started from the layer's zeros for h and a state of the program's own for c: the
    GPU loop gives c0 its gradient (as the reference loop does) and h0, a constant, none."""
    from lstmkit.cells import zero_state

    x = torch.randn(2, 4, 3)
    grads = []
    for implementation in ("reference", "fused"):
        torch.manual_seed(2)
        layer = LSTM(5, implementation=implementation)
        c0 = torch.randn(2, 5, requires_grad=True)
        out = layer(x, initial_state=[zero_state((2, 5), dtype=torch.float32, device="cpu"), c0])
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        assert c0.grad is not None, implementation
        grads.append(c0.grad)
    assert [kind for kind, _ in triton_path] == ["forward", "backward"]
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-6)
