"""The reference cells against PyTorch's own recurrent modules, with copied weights, in float64."""

import pytest
import torch

from lstmkit.layers import GRU, LSTM, SimpleRNN

TOL = dict(rtol=1e-10, atol=1e-10)
SIZES = [(1, 1, 1, 1), (3, 7, 5, 4), (8, 12, 16, 32)]  # (batch, timesteps, features, units)


def same_layout_oracle(module):
    """torch.nn.LSTM / RNN hold the transposes of Keras's kernels, with LSTM gates in the same
    order (torch's i, f, g, o is Keras's i, f, c, o); Keras's single bias goes on the input side."""

    def make(layer, D, H):
        cell = layer.cell
        oracle = module(D, H, batch_first=True).double()
        with torch.no_grad():
            oracle.weight_ih_l0.copy_(cell.kernel.T)
            oracle.weight_hh_l0.copy_(cell.recurrent_kernel.T)
            oracle.bias_ih_l0.copy_(cell.bias)
            oracle.bias_hh_l0.zero_()
        return oracle

    return make


def keras_to_torch_gru(w):  # (..., 3H) in Keras's z, r, h order -> torch's r, z, n order
    z, r, h = w.chunk(3, dim=-1)
    return torch.cat([r, z, h], dim=-1)


def gru_oracle(layer, D, H):
    cell = layer.cell
    oracle = torch.nn.GRU(D, H, batch_first=True).double()
    with torch.no_grad():
        oracle.weight_ih_l0.copy_(keras_to_torch_gru(cell.kernel).T)
        oracle.weight_hh_l0.copy_(keras_to_torch_gru(cell.recurrent_kernel).T)
        oracle.bias_ih_l0.copy_(keras_to_torch_gru(cell.bias[0]))
        oracle.bias_hh_l0.copy_(keras_to_torch_gru(cell.bias[1]))
    return oracle


CASES = {
    "lstm": (LSTM, same_layout_oracle(torch.nn.LSTM)),
    "gru": (GRU, gru_oracle),
    "simple_rnn": (SimpleRNN, same_layout_oracle(torch.nn.RNN)),  # tanh, as SimpleRNN's default
}


def randomize(layer):
    with torch.no_grad():
        for p in layer.parameters():
            p.uniform_(-0.5, 0.5)


@pytest.mark.parametrize("kind", CASES)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_matches_torch_outputs_states_and_gradients(kind, size, return_sequences, go_backwards):
    B, T, D, H = size
    layer_cls, make_oracle = CASES[kind]
    layer = layer_cls(H, return_sequences=return_sequences, return_state=True, go_backwards=go_backwards)
    layer.ensure_built((None, T, D))
    layer.double()
    randomize(layer)
    oracle = make_oracle(layer, D, H)

    x = torch.randn(B, T, D, dtype=torch.float64, requires_grad=True)
    x_oracle = x.detach().clone().requires_grad_(True)
    out, *states = layer(x)
    seq, final = oracle(x_oracle.flip(1) if go_backwards else x_oracle)
    final = final if isinstance(final, tuple) else (final,)
    expected = seq if return_sequences else seq[:, -1]

    torch.testing.assert_close(out, expected, **TOL)
    for ours, theirs in zip(states, final):
        torch.testing.assert_close(ours, theirs[0], **TOL)

    # Gradients of a loss touching the output and every state, for inputs and all weights.
    weights = torch.randn_like(out)
    (out * weights).sum().backward(retain_graph=True)
    sum(s.sum() for s in states).backward()
    (expected * weights).sum().backward(retain_graph=True)
    sum(f[0].sum() for f in final).backward()
    torch.testing.assert_close(x.grad, x_oracle.grad, **TOL)

    cell = layer.cell
    if kind == "gru":
        torch.testing.assert_close(keras_to_torch_gru(cell.kernel.grad).T, oracle.weight_ih_l0.grad, **TOL)
        torch.testing.assert_close(keras_to_torch_gru(cell.recurrent_kernel.grad).T, oracle.weight_hh_l0.grad, **TOL)
        torch.testing.assert_close(keras_to_torch_gru(cell.bias.grad[0]), oracle.bias_ih_l0.grad, **TOL)
        torch.testing.assert_close(keras_to_torch_gru(cell.bias.grad[1]), oracle.bias_hh_l0.grad, **TOL)
    else:
        torch.testing.assert_close(cell.kernel.grad.T, oracle.weight_ih_l0.grad, **TOL)
        torch.testing.assert_close(cell.recurrent_kernel.grad.T, oracle.weight_hh_l0.grad, **TOL)
        torch.testing.assert_close(cell.bias.grad, oracle.bias_ih_l0.grad, **TOL)


@pytest.mark.parametrize("kind", CASES)
def test_initial_state_matches_torch(kind):
    B, T, D, H = 4, 6, 3, 5
    layer_cls, make_oracle = CASES[kind]
    layer = layer_cls(H, return_sequences=True)
    layer.ensure_built((None, T, D))
    layer.double()
    randomize(layer)
    oracle = make_oracle(layer, D, H)
    x = torch.randn(B, T, D, dtype=torch.float64)
    states = [torch.randn(B, H, dtype=torch.float64) for _ in range(layer.state_count)]
    ours = layer(x, initial_state=states)
    theirs, _ = oracle(x, tuple(s[None] for s in states) if kind == "lstm" else states[0][None])
    torch.testing.assert_close(ours, theirs, **TOL)


def test_stacked_lstm_matches_two_layer_torch_lstm():
    B, T, D, H = 5, 9, 4, 6
    first, second = LSTM(H, return_sequences=True), LSTM(H)
    first.ensure_built((None, T, D))
    second.ensure_built((None, T, H))
    for layer in (first, second):
        layer.double()
        randomize(layer)
    oracle = torch.nn.LSTM(D, H, num_layers=2, batch_first=True).double()
    with torch.no_grad():
        for index, layer in enumerate((first, second)):
            getattr(oracle, f"weight_ih_l{index}").copy_(layer.cell.kernel.T)
            getattr(oracle, f"weight_hh_l{index}").copy_(layer.cell.recurrent_kernel.T)
            getattr(oracle, f"bias_ih_l{index}").copy_(layer.cell.bias)
            getattr(oracle, f"bias_hh_l{index}").zero_()
    x = torch.randn(B, T, D, dtype=torch.float64)
    seq, _ = oracle(x)
    torch.testing.assert_close(second(first(x)), seq[:, -1], **TOL)


@pytest.mark.parametrize(
    "make_cell",
    [
        lambda: __import__("lstmkit").cells.LSTMCell(3, 4),
        lambda: __import__("lstmkit").cells.LSTMCell(3, 4, activation="softsign", recurrent_activation="hard_sigmoid"),
        lambda: __import__("lstmkit").cells.GRUCell(3, 4),
        lambda: __import__("lstmkit").cells.GRUCell(3, 4, reset_after=False),
        lambda: __import__("lstmkit").cells.SimpleRNNCell(3, 4),
        lambda: __import__("lstmkit").cells.SimpleRNNCell(3, 4, activation="selu", use_bias=False),
    ],
    ids=["lstm", "lstm-softsign-hard-sigmoid", "gru", "gru-reset-before", "simple-rnn", "simple-rnn-selu-nobias"],
)
def test_cell_gradcheck(make_cell):
    cell = make_cell().double()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    state = tuple(torch.randn(2, 4, dtype=torch.float64, requires_grad=True) for _ in range(cell.state_count))
    params = tuple(cell.parameters())

    def step(x, *rest):
        state = rest[: cell.state_count]
        out, new_state = torch.func.functional_call(
            cell, dict(zip([n for n, _ in cell.named_parameters()], rest[cell.state_count :])), (x, state)
        )
        return (out, *new_state)

    assert torch.autograd.gradcheck(step, (x, *state, *params))
