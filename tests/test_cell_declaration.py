"""Each cell is declared once, and every floor reads that declaration.

- Python (the cell's `kernel_tensors` / `kernel_options`), the compiled C++ kernels (their
  `describe` operator) and the Triton kernels (each cell's `names`) agree on every cell's tensor
  and option names; the kernels hold no defaults of their own (a missing option is an error).
- Each Keras layer's signature defaults are its settings' defaults, and its config comes from
  the settings.
- The new option added through that declaration, `cell_clip`, gives TensorFlow's numbers
  (`tf.raw_ops.LSTMBlockCell`, whose `cell_clip` clips the new cell before anything reads it).
"""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest
import torch

from lstmkit.cells import GRUCell, LSTMCell, SimpleRNNCell
from lstmkit.cells.conv_lstm import ConvLSTMSettings
from lstmkit.kernels import SequenceSettings, build, fused
from lstmkit.layers import GRU, LSTM, ConvLSTM2D, CuDNNGRU, CuDNNLSTM, SimpleRNN
from lstmkit.layers.recurrent import WeightPenalties

# every cell with all its options on, so that each of its own tensors is given
CELLS = [
    (LSTMCell, dict(peephole=True, layer_norm=True, zoneout=0.2, cell_clip=1.0)),
    (GRUCell, dict(reset_after=True)),
    (SimpleRNNCell, {}),
]


def triton_cells():
    pytest.importorskip("triton")
    from lstmkit.kernels import gpu
    from lstmkit.kernels.gpu import loop

    return gpu._cells(), loop


@pytest.mark.parametrize("cell_class,options", CELLS, ids=lambda v: v.__name__ if isinstance(v, type) else "")
def test_python_cpp_and_triton_agree_on_every_cells_names(cell_class, options):
    cells, loop = triton_cells()
    if not build.load():
        pytest.skip(build.failure() or "the CPU kernels do not build")
    cell = cell_class(3, 4, **options)
    name = cell.kernel_name
    triton_cell = cells[name].names
    sig = fused.backend_for(torch.zeros(1)).signature(name)
    tensors, ints, floats = sig.tensors, sig.ints, sig.floats
    # C++ == the Triton loop's names, then the Triton cell's own, in the same order
    assert tensors == (*loop.LOOP_TENSORS, *triton_cell.inputs, *triton_cell.saved)
    assert ints == (*loop.LOOP_INTS, *triton_cell.ints)
    assert floats == triton_cell.floats
    # Python gives exactly the cell's own tensors (with the loop's, or apart) and options
    noise = cell.draw_noise(5, 2, torch.zeros(1))
    own = {**cell.loop_tensors(torch.zeros(5, 2, 3)), **cell.kernel_tensors(noise)}.keys() - set(loop.LOOP_TENSORS)
    assert own == set(triton_cell.inputs)
    assert set(cell.kernel_options()) == set(triton_cell.ints) | set(triton_cell.floats)


@pytest.mark.parametrize("cell_class,options", CELLS, ids=lambda v: v.__name__ if isinstance(v, type) else "")
def test_the_kernels_have_no_defaults_every_option_is_required(cell_class, options):
    """The defaults live in the settings only: both backends refuse a call missing any option."""
    cells, _ = triton_cells()
    from lstmkit.kernels import gpu

    cell = cell_class(3, 4, **options)
    x = torch.randn(5, 2, 3)
    state = tuple(torch.zeros(2, 4) for _ in range(cell.state_count))
    call = fused.FusedCall.of(cell, x, state, None, None, None, False, True)
    full = {**call.options, "save": False, "need_dx": False}
    assert fused.backend_for(x).forward(call.cell, call.given(), full)["out"].shape == (5, 2, 4)
    for missing in full:
        partial = {k: v for k, v in full.items() if k != missing}
        for backend in (fused.backend_for(x), gpu.BACKEND):
            with pytest.raises(KeyError, match=f"missing option '{missing}'"):
                backend.forward(call.cell, call.given(), partial)


LAYERS = [LSTM, CuDNNLSTM, GRU, CuDNNGRU, SimpleRNN, ConvLSTM2D]


@pytest.mark.parametrize("layer_class", LAYERS, ids=lambda c: c.__name__)
def test_each_layer_signature_default_is_its_settings_default(layer_class):
    settings_classes = [SequenceSettings, WeightPenalties,
                        ConvLSTMSettings if layer_class is ConvLSTM2D else layer_class.cell_class.settings_class]
    fields = {f.name: f for cls in settings_classes for f in dataclasses.fields(cls)}
    parameters = inspect.signature(layer_class.__init__).parameters
    checked = 0
    for name, parameter in parameters.items():
        if name in ("self", "kwargs", "data_format"):
            continue
        assert name in fields, f"{layer_class.__name__}({name}=...) lands in no settings object"
        if parameter.default is not inspect.Parameter.empty:
            assert parameter.default == fields[name].default, f"{layer_class.__name__}.{name}"
            checked += 1
    assert checked >= 10


def test_config_is_derived_from_the_settings_and_rebuilds_the_layer():
    layer = LSTM(6, activation="relu", dropout=0.25, zoneout=0.1, cell_clip=3.0, implementation="reference",
                 kernel_regularizer="l2")
    config = layer.get_config()
    assert config["activation"] == "relu" and config["dropout"] == 0.25
    assert config["zoneout"] == 0.1 and config["cell_clip"] == 3.0 and config["implementation"] == "reference"
    assert "peephole" not in config and "layer_norm" not in config  # lstmkit's own options, at their defaults
    again = LSTM.from_config(config)
    assert again.cell_settings == layer.cell_settings and again.sequence == layer.sequence
    # a preset: CuDNNLSTM is an LSTM with cuDNN's bias layout, and its config has Keras 2's keys only
    cudnn = CuDNNLSTM(4)
    assert cudnn.cell_settings.bias_layout == "cudnn"
    assert set(cudnn.get_config()) - {"name", "trainable"} <= set(inspect.signature(CuDNNLSTM.__init__).parameters)
    assert "activation" not in cudnn.get_config()


def test_settings_are_frozen_and_checked_where_made():
    with pytest.raises(ValueError, match="cell_clip"):
        LSTM(4, cell_clip=-1.0)
    with pytest.raises(ValueError, match="implementation"):
        GRU(4, implementation="fast")
    with pytest.raises(dataclasses.FrozenInstanceError):
        LSTM(4).cell_settings.units = 5  # type: ignore[misc]
    with pytest.raises(TypeError, match="lstm_option"):
        LSTM(4, lstm_option=1)


def lstm_block_cell_sequence(layer, x, h, c, clip):
    """The sequence through TensorFlow's LSTMBlockCell op, one step at a time (gate order i, ci,
    f, o; the kernel over [x, h]), with the layer's weights."""
    tf = pytest.importorskip("tensorflow")
    kernel, recurrent, bias = (w.detach().numpy() for w in (layer.cell.kernel, layer.cell.recurrent_kernel,
                                                               layer.cell.bias))
    H = layer.units
    order = np.r_[0:H, 2 * H:3 * H, H:2 * H, 3 * H:4 * H]  # ours i, f, c, o -> theirs i, ci, f, o
    w = np.concatenate([kernel, recurrent])[:, order]
    peep = [layer.cell.input_gate_peephole, layer.cell.forget_gate_peephole, layer.cell.output_gate_peephole] \
        if layer.peephole else [torch.zeros(H)] * 3
    wci, wcf, wco = (p.detach().numpy() for p in peep)
    outputs = []
    for t in range(x.shape[1]):
        got = tf.raw_ops.LSTMBlockCell(x=x[:, t], cs_prev=c, h_prev=h, w=w, wci=wci, wcf=wcf, wco=wco, b=bias[order],
                                       forget_bias=0.0, cell_clip=clip, use_peephole=layer.peephole)
        c, h = got[1].numpy(), got[6].numpy()
        outputs.append(h)
    return np.stack(outputs, 1), h, c


@pytest.mark.parametrize("implementation", ["reference", "fused"])
@pytest.mark.parametrize("peephole", [False, True], ids=["plain", "peephole"])
def test_cell_clip_gives_tensorflows_lstm_block_cell(implementation, peephole):
    torch.manual_seed(0)
    x = np.random.RandomState(1).randn(3, 6, 4).astype(np.float32) * 2
    layer = LSTM(5, return_sequences=True, return_state=True, cell_clip=0.4, peephole=peephole,
                 implementation=implementation)
    layer.ensure_built((None, 6, 4))
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.5 * torch.randn_like(p))
    h0 = np.random.RandomState(2).randn(3, 5).astype(np.float32)
    c0 = np.random.RandomState(3).randn(3, 5).astype(np.float32)
    ours = [t.detach().numpy() for t in layer(torch.from_numpy(x), initial_state=[torch.from_numpy(h0),
                                                                                   torch.from_numpy(c0)])]
    theirs = lstm_block_cell_sequence(layer, x, h0, c0, 0.4)
    assert np.abs(ours[2]).max() == pytest.approx(0.4)  # the clip bit
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-6)  # float32 arithmetic over six steps


def test_setting_an_option_on_a_layer_goes_through_its_settings():
    """`layer.return_sequences = True` makes new, checked settings that the runner reads; an
    option of the cell is fixed once its weights exist."""
    import torch

    layer = LSTM(4, activity_regularizer="l1")
    assert layer.activity_regularizer is layer.penalties.activity_regularizer
    layer.return_sequences = True
    assert layer.sequence.return_sequences and layer(torch.zeros(2, 5, 3)).shape == (2, 5, 4)
    with pytest.raises(ValueError, match="dropout=2.0"):
        layer.dropout = 2.0
    with pytest.raises(AttributeError, match="weights fix units"):
        layer.units = 5
    fresh = GRU(4)
    fresh.units = 6  # not built yet: the weights will be made for 6
    assert fresh(torch.zeros(1, 2, 3)).shape == (1, 6)


def test_conv_lstm_goes_through_the_one_masking_rule_as_keras_does():
    """ConvLSTM2D runs through the sequence runner: a masked step keeps the state and repeats the
    previous output, zeros before the first step (not the initial state), as Keras 3's layer."""
    import torch

    keras = pytest.importorskip("keras")
    rng = np.random.RandomState(0)
    x = rng.randn(2, 4, 5, 5, 3).astype("float32")
    mask = np.array([[0, 1, 1, 0], [1, 0, 1, 1]], bool)
    h0, c0 = rng.randn(2, 5, 5, 2).astype("float32"), rng.randn(2, 5, 5, 2).astype("float32")
    theirs = keras.layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True, return_state=True)
    expected = [t.detach().cpu().numpy() for t in theirs(x, mask=mask, initial_state=[h0, c0])]
    ours = ConvLSTM2D(2, 3, padding="same", return_sequences=True, return_state=True)
    ours.ensure_built((None, 4, 5, 5, 3))
    ours.set_weights([v.value.detach().cpu().numpy() for v in theirs.weights])
    got = ours(torch.from_numpy(x), mask=torch.from_numpy(mask), initial_state=[torch.from_numpy(h0), torch.from_numpy(c0)])
    assert np.abs(expected[0][0, 0]).max() == 0  # sample 0's first step is masked
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a.detach().numpy(), b, rtol=0, atol=1e-5)
