"""The fused CPU kernels against the reference loop, which is their specification.

Every test builds the same layer twice from one seed, once with implementation="reference" and
once with "fused", perturbs the weights away from their initial values, runs the same input
(same dropout masks: the random generator is reseeded before each call) and compares outputs,
final states and the gradients of the input, every weight and the initial states.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import warnings

import pytest
import torch

from lstmkit import activations, kernels
from lstmkit.kernels import build
from lstmkit.layers import GRU, LSTM, SimpleRNN, CuDNNLSTM

pytestmark = pytest.mark.skipif(not build.load(), reason=f"fused kernels unavailable: {build.failure()}")

# |fused - reference| <= TOL * (1 + |reference|) elementwise: 1e-5 in float32 and 1e-10 in float64,
# relative for entries above one in size (weight gradients summed over a batch and the steps reach
# tens, where float32's rounding alone, in a different summation order, exceeds 1e-5 absolute).
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def run_layer(layer_cls, implementation, x, mask, dtype, *, with_state=False, seed=1, perturb=0.1, build_dtype=None,
              units=5, **options):
    """Builds, perturbs and runs a layer; `build_dtype` draws the weights in another dtype first
    (float32 weights run in float64 give the exact result of float32 models)."""
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(build_dtype or dtype)
    try:
        layer = layer_cls(units, implementation=implementation, **options)
        layer.ensure_built((None, *x.shape[1:]))
    finally:
        torch.set_default_dtype(previous)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(perturb * torch.randn_like(p))
    layer.to(dtype)
    xx = x.to(dtype).clone().requires_grad_(True)
    states = []
    if with_state:
        n = 2 if layer_cls in (LSTM, CuDNNLSTM) else 1
        states = [torch.randn(x.shape[0], units, dtype=build_dtype or dtype).to(dtype).requires_grad_(True)
                  for _ in range(n)]
    torch.manual_seed(seed + 1)
    y = layer(xx, mask=mask, training=True, initial_state=states or None)
    ys = y if isinstance(y, list) else [y]
    # a loss that weighs every output element differently, so no gradient is trivially equal
    loss = sum((t * torch.linspace(-1, 1, t.numel(), dtype=dtype).view_as(t)).sum() for t in ys)
    loss.backward()
    grads = [xx.grad] + [p.grad for p in layer.parameters()] + [s.grad for s in states]
    return [t.detach() for t in ys], grads


def assert_same(reference, fused, dtype, label):
    for i, (a, b) in enumerate(zip(reference, fused)):
        assert a is not None and b is not None, f"{label}: missing tensor {i}"
        assert a.shape == b.shape, f"{label}: shape {tuple(a.shape)} != {tuple(b.shape)}"
        same = (a == b) | (a.isnan() & b.isnan())  # equal infinities and NaNs (an exploding activation) count
        diff = torch.where(same, torch.zeros_like(a), (a - b).abs() / (1 + a.abs()))
        err = diff.max().item() if a.numel() else 0.0
        assert err <= TOL[dtype], f"{label}: tensor {i} differs by {err:.3g} (scaled)"


def assert_as_accurate(reference, fused, exact, label):
    """Float32 results whose own rounding error exceeds TOL: the fused ones must be as close to the
    exact (float64) result as the reference's are, up to a factor of 8 (two summation orders of
    one ill-conditioned sum land a few times apart either way), or within TOL. A wrong formula
    is off by far more: order one."""
    for i, (a, b, e) in enumerate(zip(reference, fused, exact)):
        ref_err = ((a.double() - e).abs() / (1 + e.abs())).max().item()
        fus_err = ((b.double() - e).abs() / (1 + e.abs())).max().item()
        assert fus_err <= max(TOL[torch.float32], 8 * ref_err), (
            f"{label}: tensor {i} is {fus_err:.3g} from the float64 result, the reference {ref_err:.3g}")


def compare(layer_cls, x, mask, dtype, perturb=0.1, **options):
    label = f"{layer_cls.__name__} {options} mask={mask is not None} B={x.shape[0]} {dtype}"
    ref_out, ref_grads = run_layer(layer_cls, "reference", x, mask, dtype, perturb=perturb, **options)
    fus_out, fus_grads = run_layer(layer_cls, "fused", x, mask, dtype, perturb=perturb, **options)
    assert len(ref_out) == len(fus_out) and len(ref_grads) == len(fus_grads)
    assert_same(ref_out, fus_out, dtype, label + " outputs")
    assert_same(ref_grads, fus_grads, dtype, label + " gradients")


def random_mask(B, T, generator):
    mask = torch.rand(B, T, generator=generator) > 0.35
    mask[0] = True  # one full sequence
    mask[1, :2] = False  # one that starts masked: output zeros, state kept from the start
    return mask


CELLS = [
    (LSTM, {}),
    (LSTM, {"activation": "relu", "recurrent_activation": "hard_sigmoid"}),
    (LSTM, {"peephole": True}),
    (LSTM, {"layer_norm": True}),
    (LSTM, {"zoneout": 0.3}),
    (LSTM, {"peephole": True, "layer_norm": True, "zoneout": 0.2, "activation": "softsign"}),
    (CuDNNLSTM, {}),
    (GRU, {}),
    (GRU, {"reset_after": False}),
    (SimpleRNN, {}),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("layer_cls,extra", CELLS, ids=lambda v: v.__name__ if isinstance(v, type) else str(v))
def test_variant_matrix(layer_cls, extra, dtype):
    """Variants x masks x two batch sizes x both dtypes (at these sizes the batch is one chunk;
    test_batch_split_across_threads covers the split)."""
    g = torch.Generator().manual_seed(0)
    flags = list(itertools.product([False, True], repeat=4))  # return_sequences, go_backwards, masked, state
    for B in (3, 40):
        x = torch.randn(B, 7, 4, generator=g)
        for rs, gb, masked, with_state in flags:
            mask = random_mask(B, 7, g) if masked else None
            options = dict(extra, return_sequences=rs, go_backwards=gb, return_state=True)
            if layer_cls is not CuDNNLSTM:
                options.update(recurrent_dropout=0.3 if rs else 0.0, dropout=0.2 if gb else 0.0,
                               use_bias=not (rs and gb), zero_output_for_mask=masked and rs)
            label = f"{layer_cls.__name__} {options} B={B}"
            ref = run_layer(layer_cls, "reference", x, mask, dtype, with_state=with_state, **options)
            fus = run_layer(layer_cls, "fused", x, mask, dtype, with_state=with_state, **options)
            assert_same(ref[0], fus[0], dtype, label + " outputs")
            if options.get("layer_norm") and dtype == torch.float32:
                # Normalising a near-constant vector (h U is zero at the first step from a zero
                # state) scales its gradient by up to 1/sqrt(eps): float32 gradients of a layer-norm
                # LSTM carry rounding errors above 1e-5 in the reference loop itself
                exact = run_layer(layer_cls, "reference", x, mask, torch.float64, with_state=with_state,
                                  build_dtype=torch.float32, **options)
                assert_as_accurate(ref[1], fus[1], exact[1], label + " gradients")
            else:
                assert_same(ref[1], fus[1], dtype, label + " gradients")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("layer_cls,extra", CELLS, ids=lambda v: v.__name__ if isinstance(v, type) else str(v))
def test_batch_split_across_threads(layer_cls, extra, dtype):
    """A batch large enough to be cut into one chunk per thread, in uneven chunks (67 samples over
    4 threads: 17, 17, 17, 16), each running the time loop on its own rows with a product against
    the shared (packed) recurrent matrix."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(67, 6, 9, generator=g)
    mask = random_mask(67, 6, g)
    options = dict(extra, return_sequences=True, return_state=True)
    if layer_cls is not CuDNNLSTM:
        options.update(recurrent_dropout=0.25)
    threads = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        ref = run_layer(layer_cls, "reference", x, mask, dtype, with_state=True, units=128, **options)
        fus = run_layer(layer_cls, "fused", x, mask, dtype, with_state=True, units=128, **options)
        label = f"{layer_cls.__name__} {options} B=67 units=128"
        assert_same(ref[0], fus[0], dtype, label + " outputs")
        if dtype == torch.float32:
            # gradients summed over 67 samples x 6 steps x 128 units: in float32 two summation
            # orders already differ by about 1e-5, so both are held to the float64 result
            exact = run_layer(layer_cls, "reference", x, mask, torch.float64, with_state=True, units=128,
                              build_dtype=torch.float32, **options)
            assert_as_accurate(ref[1], fus[1], exact[1], label + " gradients")
        else:
            assert_same(ref[1], fus[1], dtype, label + " gradients")
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("name", sorted(set(activations.names())))
def test_every_registry_activation(name):
    # initial weights and small inputs: unbounded activations (exponential, relu) must not overflow,
    # where two summation orders may turn inf into different infs and NaNs
    x = 0.2 * torch.randn(6, 5, 3)
    mask = random_mask(6, 5, torch.Generator().manual_seed(1))
    for dtype in (torch.float32, torch.float64):
        compare(LSTM, x, mask, dtype, perturb=0.0, activation=name, return_sequences=True)
        compare(GRU, x, None, dtype, perturb=0.0, activation=name)
        compare(LSTM, x, None, dtype, perturb=0.0, recurrent_activation=name)
        # two steps: an Elman recurrence through exp overflows within five, in either implementation
        compare(SimpleRNN, x[:, :2], mask[:, :2], dtype, perturb=0.0, activation=name, return_sequences=True)


def test_stateful_layer_carries_the_same_states():
    x = torch.randn(4, 6, 3)
    outs = {}
    for impl in ("reference", "fused"):
        torch.manual_seed(3)
        layer = LSTM(5, stateful=True, return_sequences=True, implementation=impl)
        layer.ensure_built((None, 3, 3))
        outs[impl] = [layer(x[:, :3]), layer(x[:, 3:])]
    for a, b in zip(outs["reference"], outs["fused"]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_inference_without_grad_matches():
    x = torch.randn(5, 9, 3)
    for cls in (LSTM, GRU, SimpleRNN):
        torch.manual_seed(0)
        ref = cls(6, return_sequences=True, implementation="reference")
        ref.ensure_built((None, 9, 3))
        torch.manual_seed(0)
        fus = cls(6, return_sequences=True, implementation="fused")
        fus.ensure_built((None, 9, 3))
        with torch.no_grad():
            torch.testing.assert_close(fus(x), ref(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", ["lstm", "lstm_all_options", "gru", "gru_reset_before", "rnn"])
def test_gradcheck_float64(kind):
    """The fused backward against finite differences of the fused forward, in float64."""
    from lstmkit.kernels import fused

    g = torch.Generator().manual_seed(0)
    T, B, D, H = 4, 3, 2, 3
    G = {"lstm": 4, "lstm_all_options": 4, "gru": 3, "gru_reset_before": 3, "rnn": 1}[kind]

    def param(*shape):
        return (0.5 * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_(True)

    x, W, b, U, h0 = param(T, B, D), param(D, G * H), param(G * H), param(H, G * H), param(B, H)
    mask = torch.tensor([[1, 1, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=torch.bool)  # (T, B)
    rmask = (torch.rand(B, H, generator=g) > 0.3).double() / 0.7
    tanh, sigmoid = fused.ACTIVATION_IDS["tanh"], fused.ACTIVATION_IDS["sigmoid"]
    if kind.startswith("lstm"):
        c0 = param(B, H)
        zone = (torch.rand(2, T, B, H, generator=g) < 0.3).double() if kind == "lstm_all_options" else None
        options = (0.3 if kind == "lstm_all_options" else 0.0, 1e-5, tanh, sigmoid, False, True)
        if kind == "lstm":
            fn = lambda x, W, b, U, h0, c0: fused._LSTM.apply(  # noqa: E731
                x, W, b, U, h0, c0, None, None, None, None, None, mask, rmask, None, options)
            inputs = (x, W, b, U, h0, c0)
        else:  # peepholes, layer norm and zoneout draws
            peep, gx, gh, gc, bc = param(3, H), param(G * H), param(G * H), param(H), param(H)
            fn = lambda x, W, b, U, h0, c0, peep, gx, gh, gc, bc: fused._LSTM.apply(  # noqa: E731
                x, W, b, U, h0, c0, peep, gx, gh, gc, bc, mask, rmask, zone, options)
            inputs = (x, W, b, U, h0, c0, peep, gx, gh, gc, bc)
    elif kind == "rnn":
        fn = lambda x, W, b, U, h0: fused._SimpleRNN.apply(x, W, b, U, h0, mask, rmask, tanh, False, True)  # noqa: E731
        inputs = (x, W, b, U, h0)
    else:
        reset_after = kind == "gru"
        b_r = param(G * H)
        fn = lambda x, W, b, U, b_r, h0: fused._GRU.apply(  # noqa: E731
            x, W, b, U, b_r if reset_after else None, h0, mask, rmask, tanh, sigmoid, reset_after, True, True)
        inputs = (x, W, b, U, b_r, h0)
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7)


# ---- the dispatch point -------------------------------------------------------------------------


def test_explicit_fused_that_cannot_run_says_what_to_pass():
    layer = LSTM(4, activation=lambda t: torch.tanh(t) * 0.5, implementation="fused")
    with pytest.raises(kernels.FusedUnavailableError, match="implementation='auto'.*'reference'"):
        layer(torch.zeros(2, 3, 2))


def test_auto_falls_back_with_one_warning_and_the_reference_numbers():
    def half_tanh(t):
        return torch.tanh(t) * 0.5

    torch.manual_seed(0)
    auto = LSTM(4, activation=half_tanh)
    auto.ensure_built((None, 3, 2))
    torch.manual_seed(0)
    ref = LSTM(4, activation=half_tanh, implementation="reference")
    ref.ensure_built((None, 3, 2))
    x = torch.randn(2, 3, 2)
    with pytest.warns(RuntimeWarning, match="half_tanh.*built-in activations"):
        y = auto(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        auto(x)  # the second call stays quiet
    torch.testing.assert_close(y, ref(x))


def test_auto_uses_the_fused_kernels_for_built_in_cells():
    layer = LSTM(4)
    layer.ensure_built((None, 3, 2))
    assert kernels.resolve(layer.implementation, layer.cell, torch.zeros(2, 3, 2), "test") == "fused"


def test_implementation_argument_is_checked():
    with pytest.raises(ValueError, match="implementation must be one of .*got 'fast'"):
        LSTM(4, implementation="fast")
    assert LSTM(4, implementation=2).implementation == "auto"  # Keras's modes 1 and 2
    assert GRU(4, implementation=1).implementation == "auto"


def test_library_default_can_be_changed():
    before = kernels.get_default_implementation()
    try:
        kernels.set_default_implementation("reference")
        layer = LSTM(4)
        layer.ensure_built((None, 3, 2))
        assert kernels.resolve(layer.implementation, layer.cell, torch.zeros(1, 3, 2), "t") == "reference"
        with pytest.raises(ValueError, match="got 'quick'"):
            kernels.set_default_implementation("quick")
    finally:
        kernels.set_default_implementation(before)


def test_implementation_survives_get_config():
    layer = LSTM(4, implementation="reference")
    assert LSTM.from_config(layer.get_config()).implementation == "reference"


def test_without_a_compiler_auto_warns_and_still_trains(tmp_path):
    """A machine with no C++ compiler: the build fails, "auto" falls back to the reference."""
    program = (
        "import warnings, torch\n"
        "from lstmkit.layers import LSTM\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    y = LSTM(3)(torch.ones(2, 4, 2))\n"
        "print('shape', tuple(y.shape))\n"
        "print('warned', any('could not be built' in str(w.message) for w in caught))\n"
    )
    env = dict(os.environ, CXX=str(tmp_path / "no-such-compiler"), LSTMKIT_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "shape (2, 3)" in done.stdout
    assert "warned True" in done.stdout


def test_bench_runs_every_contender():
    done = subprocess.run([sys.executable, "-m", "lstmkit.cli", "bench", "--quick", "--rounds", "1", "--steps", "1",
                           "--only", "seed"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("  ") and "contender" not in line]
    assert [r[0] for r in rows] == ["fused", "reference", "nn.LSTM", "LSTMCell"]
    for r in rows:
        assert float(r[-1]) > 0  # memory held for the backward pass
