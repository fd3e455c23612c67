"""LSTM options Keras and torch.nn lack: peepholes, layer norm and zoneout (reference cell).

Each reference is checked against an oracle written independently here: torch's own
`LayerNorm` for the normalisation, a NumPy loop over the published equations for the
peepholes, a plain LSTM step for zoneout's two extremes and its expectation. The fused kernels
are checked against the reference in test_fused.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lstmkit.kernels as kernels
from lstmkit.cells import LSTMCell
from lstmkit.cells.lstm import layer_norm
from lstmkit.kernels import SequenceSettings, dispatch
from lstmkit.layers import LSTM, Bidirectional, Dense
from lstmkit.models import Sequential, load_model
from lstmkit.utils import set_random_seed

IMPLEMENTATIONS = ["reference", "fused"]


def sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def built_layer(units: int, x: torch.Tensor, seed: int = 0, **options) -> LSTM:
    torch.manual_seed(seed)
    layer = LSTM(units, return_sequences=True, return_state=True, **options).double()
    layer.ensure_built(tuple(x.shape))
    with torch.no_grad():  # away from the initial values (unit gains, zero shifts)
        for p in layer.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return layer


def test_layer_norm_helper_is_torch_layer_norm():
    v = torch.randn(6, 20, dtype=torch.float64) * 3 + 1
    gamma, beta = torch.randn(20, dtype=torch.float64), torch.randn(20, dtype=torch.float64)
    expected = torch.nn.functional.layer_norm(v, (20,), gamma, beta, eps=1e-5)
    torch.testing.assert_close(layer_norm(v, gamma, beta, 1e-5), expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(layer_norm(v, gamma, None, 1e-3),
                               torch.nn.functional.layer_norm(v, (20,), gamma, None, eps=1e-3), rtol=0, atol=1e-12)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_layer_norm_lstm_matches_a_torch_layernorm_oracle(implementation):
    """Ba, Kiros & Hinton (2016), eqs. 20-22, written with torch.nn.LayerNorm modules."""
    x = torch.randn(3, 6, 4, dtype=torch.float64)
    layer = built_layer(5, x, layer_norm=True, implementation=implementation)
    kernel, recurrent, bias, g_x, g_h, g_c, b_c = [torch.as_tensor(w) for w in layer.get_weights()]
    H = 5
    ln_x = torch.nn.LayerNorm(4 * H, eps=1e-5, dtype=torch.float64)
    ln_h = torch.nn.LayerNorm(4 * H, eps=1e-5, dtype=torch.float64)
    ln_c = torch.nn.LayerNorm(H, eps=1e-5, dtype=torch.float64)
    with torch.no_grad():
        ln_x.weight.copy_(g_x), ln_x.bias.zero_()
        ln_h.weight.copy_(g_h), ln_h.bias.zero_()
        ln_c.weight.copy_(g_c), ln_c.bias.copy_(b_c)
    h = c = torch.zeros(3, H, dtype=torch.float64)
    expected = []
    for t in range(6):
        gates = ln_x(x[:, t] @ kernel) + ln_h(h @ recurrent) + bias
        i, f, g, o = gates.split(H, dim=-1)  # Keras's block order
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(ln_c(c))
        expected.append(h)
    out, h_last, c_last = layer(x)
    torch.testing.assert_close(out, torch.stack(expected, 1), rtol=0, atol=1e-12)
    torch.testing.assert_close(c_last, c, rtol=0, atol=1e-12)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_peephole_lstm_matches_the_published_equations(implementation):
    """Gers, Schraudolph & Schmidhuber (2002): i and f peep at c_{t-1}, o at c_t (NumPy loop)."""
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    layer = built_layer(4, x, peephole=True, implementation=implementation)
    kernel, recurrent, bias, p_i, p_f, p_o = layer.get_weights()
    xs = x.numpy()
    H = 4
    h = np.zeros((2, H))
    c = np.zeros((2, H))
    expected = np.zeros((2, 5, H))
    for b in range(2):
        for t in range(5):
            z = xs[b, t] @ kernel + h[b] @ recurrent + bias
            i = sigmoid(z[:H] + p_i * c[b])
            f = sigmoid(z[H:2 * H] + p_f * c[b])
            c[b] = f * c[b] + i * np.tanh(z[2 * H:3 * H])
            o = sigmoid(z[3 * H:] + p_o * c[b])
            h[b] = o * np.tanh(c[b])
            expected[b, t] = h[b]
    out, _, c_last = layer(x)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c_last.detach().numpy(), c, rtol=0, atol=1e-12)


def test_zero_peepholes_are_a_plain_lstm():
    x = torch.randn(3, 6, 2, dtype=torch.float64)
    peep = built_layer(5, x, peephole=True)
    plain = built_layer(5, x)
    weights = peep.get_weights()
    plain.set_weights(weights[:3])
    peep.set_weights(weights[:3] + [np.zeros(5)] * 3)
    for a, b in zip(peep(x), plain(x)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-13)


def plain_steps(cell: LSTMCell, x: torch.Tensor, mix) -> torch.Tensor:
    """An oracle loop: a plain LSTM step, then h, c = mix(previous, new) per step."""
    h = c = torch.zeros(x.shape[0], cell.units, dtype=x.dtype)
    outputs = []
    for t in range(x.shape[1]):
        h_new, (_, c_new) = cell.step(cell.project_inputs(x[:, t]), (h, c))
        h, c = mix(t, h, h_new, "h"), mix(t, c, c_new, "c")
        outputs.append(h)
    return torch.stack(outputs, 1)


def plain_cell_like(layer: LSTM) -> LSTMCell:
    cell = LSTMCell(layer.cell.input_dim, layer.units).double()
    with torch.no_grad():
        for mine, theirs in zip(cell.parameters(), layer.cell.parameters()):
            mine.copy_(theirs)
    return cell


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_zoneout_at_inference_is_the_expectation(implementation):
    x = torch.randn(3, 7, 2, dtype=torch.float64)
    layer = built_layer(4, x, zoneout=0.3, implementation=implementation)
    expected = plain_steps(plain_cell_like(layer), x, lambda t, old, new, which: 0.3 * old + 0.7 * new)
    out, _, _ = layer(x, training=False)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_zoneout_draws_keep_exactly_the_units_they_say(implementation):
    """With given 0/1 draws, a unit takes the new value where its draw is 0 and keeps the old one
    where it is 1; all ones freeze the initial state, all zeros are a plain LSTM."""
    x = torch.randn(3, 6, 2, dtype=torch.float64)
    layer = built_layer(4, x, zoneout=0.5, implementation=implementation)
    cell = layer.cell
    state = (torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64))
    draws = (torch.rand(6, 2, 3, 4, generator=torch.Generator().manual_seed(2)) < 0.5).double()  # (T, 2, B, H)
    settings = SequenceSettings(return_sequences=True, implementation=implementation)

    def run(d):
        return dispatch(cell, x, state, settings, mask=None, noise=d)

    out, (h, c) = run(torch.ones_like(draws))
    torch.testing.assert_close(out, state[0][:, None].expand(3, 6, 4), rtol=0, atol=0)
    torch.testing.assert_close(c, state[1], rtol=0, atol=0)
    plain = plain_cell_like(layer)

    def step_from(hc, t):
        h_new, (_, c_new) = plain.step(plain.project_inputs(x[:, t]), hc)
        return h_new, c_new

    out0, _ = run(torch.zeros_like(draws))
    hc = state
    for t in range(6):
        hc = step_from(hc, t)
        torch.testing.assert_close(out0[:, t], hc[0], rtol=0, atol=1e-12)
    out_mixed, _ = run(draws)
    hc = state
    for t in range(6):
        h_new, c_new = step_from(hc, t)
        hc = (torch.where(draws[t, 0] == 1, hc[0], h_new), torch.where(draws[t, 1] == 1, hc[1], c_new))
        torch.testing.assert_close(out_mixed[:, t], hc[0], rtol=0, atol=1e-12)


def test_zoneout_training_draws_have_rate_p_per_unit_and_step():
    x = torch.randn(64, 50, 3)
    layer = LSTM(32, return_sequences=True, zoneout=0.25)
    layer.ensure_built(tuple(x.shape))
    captured = {}
    original = kernels.dispatch

    def spy(*args, **kwargs):
        captured["draws"] = kwargs["noise"]
        return original(*args, **kwargs)

    kernels.dispatch = spy
    try:
        layer(x, training=True)
        assert captured["draws"].shape == (50, 2, 64, 32)  # (T, h and c, B, H)
        n = captured["draws"].numel()
        rate = captured["draws"].mean().item()
        assert abs(rate - 0.25) < 5 * (0.25 * 0.75 / n) ** 0.5  # five binomial standard deviations
        # fresh draws per step and per unit, not one mask reused
        assert not torch.equal(captured["draws"][0, 0], captured["draws"][1, 0])
        assert not torch.equal(captured["draws"][0, 0], captured["draws"][0, 1])
        layer(x, training=False)
        assert captured["draws"] is None
    finally:
        kernels.dispatch = original


def test_weights_order_shapes_and_names():
    layer = LSTM(3, peephole=True, layer_norm=True)
    layer.ensure_built((None, 4, 2))
    names = [name.split(".")[-1] for name, _ in layer.named_parameters()]
    assert names == ["kernel", "recurrent_kernel", "bias", "input_gate_peephole", "forget_gate_peephole",
                     "output_gate_peephole", "input_gamma", "recurrent_gamma", "cell_gamma", "cell_beta"]
    assert [w.shape for w in layer.get_weights()] == [(2, 12), (3, 12), (12,), (3,), (3,), (3,), (12,), (12,), (3,), (3,)]
    gains = layer.get_weights()[6:]
    assert all((g == 1).all() for g in gains[:3]) and (gains[3] == 0).all()
    assert layer.count_params() == 2 * 12 + 3 * 12 + 12 + 9 + 12 + 12 + 3 + 3


@pytest.mark.parametrize("bad", [1.0, -0.1, "0.2", True, float("nan")])
def test_bad_zoneout_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="zoneout"):
        LSTM(4, zoneout=bad)


@pytest.mark.parametrize("bad", [0, -1e-5, "1e-5", float("inf")])
def test_bad_layer_norm_epsilon_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="layer_norm_epsilon"):
        LSTM(4, layer_norm=True, layer_norm_epsilon=bad)


def test_options_survive_config_and_saving(tmp_path):
    set_random_seed(0)
    model = Sequential([LSTM(6, input_shape=(5, 3), peephole=True, layer_norm=True, zoneout=0.1,
                             layer_norm_epsilon=1e-3, return_sequences=True),
                        LSTM(4), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).normal(size=(8, 5, 3)).astype("float32")
    model.fit(x, np.zeros((8, 2), "float32"), epochs=1, verbose=0)
    config = model.layers[0].get_config()
    assert (config["peephole"], config["layer_norm"], config["zoneout"], config["layer_norm_epsilon"]) == (True, True, 0.1, 1e-3)
    assert "peephole" not in model.layers[1].get_config()  # a plain LSTM's config stays Keras's
    model.save(tmp_path / "m.lstmkit")
    again = load_model(tmp_path / "m.lstmkit")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [w.shape for w in again.get_weights()] == [w.shape for w in model.get_weights()]


def test_bidirectional_layer_norm_peephole_zoneout_learns():
    """Whether most steps of a sequence are positive, learnt through every option at once (a
    scale-free task: with one input feature, the input term's layer norm keeps only its sign)."""
    set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(512, 13, 1)).astype("float32")
    y = ((x > 0).sum(axis=(1, 2)) > 6).astype("float32")
    model = Sequential([Bidirectional(LSTM(16, peephole=True, layer_norm=True, zoneout=0.1), input_shape=(13, 1)),
                        Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    before = model.evaluate(x, y, verbose=0)[0]
    model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert loss < 0.5 * before and accuracy > 0.9
