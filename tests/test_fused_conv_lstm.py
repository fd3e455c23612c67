"""The fused CPU kernels' ConvLSTM (csrc/conv_lstm.h) against the reference cell: every option
of Keras's layer, ranks 1 to 3, float64 to 1e-10, and gradcheck. (Keras's own numbers: the
ConvLSTM2D cases of test_keras_layers.py, which run the fused path by default.)"""

from __future__ import annotations

import itertools

import pytest
import torch

from lstmkit import kernels
from lstmkit.cells import ConvLSTMCell, ConvLSTMSettings
from lstmkit.kernels import SequenceSettings, build
from lstmkit.layers import ConvLSTM2D

from test_fused import assert_same

pytestmark = pytest.mark.skipif(not build.load(), reason=f"fused kernels unavailable: {build.failure()}")


def run_layer(implementation, x, mask, with_state, options, seed=3, dtype=torch.float64, filters=3):
    """Outputs and every gradient (input, weights, states) of a ConvLSTM2D in `dtype`. The
    weights, input and states are drawn in float64 and rounded to float32 values, so a float32
    run and a float64 one compute from the same numbers."""
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        layer = ConvLSTM2D(filters, options.pop("kernel_size", 3), implementation=implementation, return_state=True, **options)
        layer.ensure_built((None, *x.shape[1:]))
        with torch.no_grad():
            for p in layer.parameters():
                p.add_(0.1 * torch.randn_like(p))
                p.copy_(p.float().double())
    finally:
        torch.set_default_dtype(previous)
    layer.to(dtype)
    xx = x.float().to(dtype).requires_grad_(True)
    states = []
    if with_state:
        state_shape = layer.compute_output_shape((x.shape[0], *x.shape[1:]))[1]
        states = [torch.randn(*state_shape, dtype=torch.float64).float().to(dtype).requires_grad_(True)
                  for _ in range(2)]
    torch.manual_seed(seed + 1)  # the same dropout masks on both paths
    out = layer(xx, mask=mask, training=True, initial_state=states or None)
    loss = sum((t * torch.linspace(-1, 1, t.numel(), dtype=t.dtype).view_as(t)).sum() for t in out)
    loss.backward()
    return [t.detach() for t in out] + [xx.grad] + [p.grad for p in layer.parameters()] + [s.grad for s in states]


OPTIONS = [
    {},
    {"padding": "same"},
    {"strides": 2, "padding": "same"},
    {"dilation_rate": 2},
    {"kernel_size": (5, 3), "padding": "same", "use_bias": False},
    {"data_format": "channels_first"},
    {"activation": "relu", "recurrent_activation": "hard_sigmoid"},
    {"dropout": 0.3, "recurrent_dropout": 0.4},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
def test_layer_matches_the_reference(options):
    g = torch.Generator().manual_seed(0)
    B, T = 3, 5
    frames = torch.randn(B, T, 8, 7, 2, generator=g, dtype=torch.float64)
    if options.get("data_format") == "channels_first":
        frames = frames.movedim(-1, 2)
    for masked, with_state, sequences, backwards in itertools.product([False, True], repeat=4):
        mask = None
        if masked:
            mask = torch.rand(B, T, generator=g) > 0.3
            mask[1, :2] = False  # starts masked
        opts = dict(options, return_sequences=sequences, go_backwards=backwards)
        ref = run_layer("reference", frames, mask, with_state, dict(opts))
        fus = run_layer("fused", frames, mask, with_state, dict(opts))
        assert_same(ref, fus, torch.float64, f"{opts} mask={masked} state={with_state}")


@pytest.mark.parametrize("options", [{"padding": "same"}, {"strides": 2, "padding": "same"}, {"dilation_rate": 2}],
                         ids=["same", "strides", "dilation"])
def test_one_input_channel_over_chunks(options):
    """One input channel (W's gradient as a product of the frames' windows, dilation aside) and a
    sequence long enough for the backward to take its steps in several chunks (about 4 MB of
    gradient rows each: here 8 of the 12 steps)."""
    g = torch.Generator().manual_seed(1)
    B, T, side = 2, 12, 64 if options.get("strides") else 32
    frames = torch.randn(B, T, side, side, 1, generator=g, dtype=torch.float64)
    mask = torch.rand(B, T, generator=g) > 0.2
    for with_state in (False, True):
        opts = dict(options, filters=8, return_sequences=True)
        runs = []
        for implementation in ("reference", "fused"):
            filters = opts.pop("filters")
            runs.append(run_layer(implementation, frames, mask, with_state, dict(opts), filters=filters))
            opts["filters"] = filters
        assert_same(*runs, torch.float64, f"{opts} state={with_state}")


@pytest.mark.parametrize("rank,spatial", [(1, (9,)), (3, (4, 5, 3))])
def test_cells_of_rank_one_and_three(rank, spatial):
    """The kernels take any rank the cell has (Keras's ConvLSTM1D and ConvLSTM3D cells)."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, *spatial, 2, dtype=torch.float64)
    mask = torch.tensor([[True, False, True, True], [False, True, True, False]])
    results = []
    for implementation in ("reference", "fused"):
        torch.manual_seed(1)
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            cell = ConvLSTMCell(2, ConvLSTMSettings(filters=3, kernel_size=3, rank=rank, padding="same"))
        finally:
            torch.set_default_dtype(previous)
        xx = x.clone().requires_grad_(True)
        state = tuple(torch.zeros(2, *spatial, 3, dtype=torch.float64) for _ in range(2))
        settings = SequenceSettings(return_sequences=True, recurrent_dropout=0.3, implementation=implementation)
        torch.manual_seed(2)
        out, (h, c) = kernels.run_sequence(cell, xx, state, settings, mask=mask, training=True)
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().add(c.sum()).backward()
        results.append([out.detach(), c.detach(), xx.grad, *(p.grad for p in cell.parameters())])
    assert_same(*results, torch.float64, f"rank {rank}")


def test_gradcheck():
    """The fused backward against finite differences, for the input and both states (the
    weights' gradients are held to the reference's above)."""
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        cell = ConvLSTMCell(2, ConvLSTMSettings(filters=2, kernel_size=3, padding="same"))
    finally:
        torch.set_default_dtype(previous)
    x = torch.randn(2, 3, 4, 5, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 4, 5, 2, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(2, 4, 5, 2, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, False, True], [True, True, False]])
    settings = SequenceSettings(return_sequences=True, implementation="fused")

    def run(x, h0, c0):
        out, (h, c) = kernels.run_sequence(cell, x, (h0, c0), settings, mask=mask)
        return out, c

    assert torch.autograd.gradcheck(run, (x, h0, c0))


def test_an_even_kernel_is_the_reference_loops():
    layer = ConvLSTM2D(2, 2, implementation="fused")
    with pytest.raises(kernels.FusedUnavailableError, match="kernel_size"):
        layer(torch.randn(1, 3, 5, 5, 1))


def test_python_and_cpp_agree_on_the_cells_names():
    pytest.importorskip("triton")  # the loop's names are read from the Triton loop's module
    from lstmkit.kernels import fused
    from lstmkit.kernels.gpu import loop

    from lstmkit.kernels import gpu

    cell = ConvLSTMCell(2, ConvLSTMSettings(filters=3, kernel_size=3))
    triton_cell = gpu._cells()[cell.kernel_name].names
    sig = fused.backend_for(torch.zeros(1)).signature(cell.kernel_name)
    assert sig.tensors == (*loop.LOOP_TENSORS, *triton_cell.inputs, *triton_cell.saved)
    assert sig.ints == (*loop.LOOP_INTS, *triton_cell.ints) and sig.floats == triton_cell.floats == ()
    assert set(cell.kernel_options()) == set(triton_cell.ints)
    assert cell.kernel_tensors(None) == {}
    assert set(cell.loop_tensors(torch.zeros(2, 1, 4, 4, 2))) == {"x", "W", "b", "U"}
