"""Keras's masking rule, checked on cases worked out by hand."""

import torch

from lstmkit.layers import LSTM, Embedding, Masking, SimpleRNN
from lstmkit.models import Sequential


def accumulator(**kwargs):
    """SimpleRNN(1) with linear activation, kernel 1, recurrent 1, bias 0: h_t = h_{t-1} + x_t,
    so the output is a running sum of the steps it reads and a skipped step is easy to see."""
    layer = SimpleRNN(1, activation="linear", return_sequences=True, **kwargs)
    layer.ensure_built((None, 4, 1))
    layer.set_weights([[[1.0]], [[1.0]], [0.0]])
    return layer


X = torch.tensor([[1.0, 2.0, 3.0, 4.0]]).unsqueeze(-1)  # (1, 4, 1)


def test_masked_step_keeps_state_and_repeats_output():
    mask = torch.tensor([[True, False, True, True]])
    out = accumulator()(X, mask=mask).squeeze(-1)
    # step 2 is skipped: running sums 1, (1), 1+3, 1+3+4
    assert out.tolist() == [[1.0, 1.0, 4.0, 8.0]]


def test_left_padding_outputs_zero_until_data():
    mask = torch.tensor([[False, False, True, True]])
    out = accumulator()(X, mask=mask).squeeze(-1)
    assert out.tolist() == [[0.0, 0.0, 3.0, 7.0]]


def test_right_padding_repeats_last_output_and_final_state():
    mask = torch.tensor([[True, True, False, False]])
    layer = accumulator(return_state=True)
    out, state = layer(X, mask=mask)
    assert out.squeeze(-1).tolist() == [[1.0, 3.0, 3.0, 3.0]]
    assert state.tolist() == [[3.0]]


def test_zero_output_for_mask_gives_zeros_at_masked_steps():
    mask = torch.tensor([[True, False, True, False]])
    out = accumulator(zero_output_for_mask=True)(X, mask=mask).squeeze(-1)
    assert out.tolist() == [[1.0, 0.0, 4.0, 0.0]]


def test_go_backwards_reads_mask_backwards_too():
    mask = torch.tensor([[True, True, False, True]])
    out = accumulator(go_backwards=True)(X, mask=mask).squeeze(-1)
    # reads 4, (3 masked), 2, 1: sums 4, 4, 6, 7, in reading order
    assert out.tolist() == [[4.0, 4.0, 6.0, 7.0]]


def test_fully_masked_sample_gives_zero_output_and_its_initial_state():
    layer = accumulator(return_state=True)
    out, state = layer(X, mask=torch.zeros(1, 4, dtype=torch.bool), initial_state=[torch.tensor([[5.0]])])
    assert out.squeeze(-1).tolist() == [[0.0, 0.0, 0.0, 0.0]]
    assert state.tolist() == [[5.0]]


def test_lstm_cell_state_is_carried_across_masked_steps():
    """For an LSTM both h and c must survive a masked step: reading [a, pad, b] ends where [a, b] does."""
    torch.manual_seed(3)
    layer = LSTM(3, return_state=True)
    x = torch.randn(2, 3, 2)
    mask = torch.tensor([[True, False, True], [True, False, True]])
    _, h_masked, c_masked = layer(x, mask=mask)
    _, h_short, c_short = layer(x[:, [0, 2]])
    torch.testing.assert_close(h_masked, h_short)
    torch.testing.assert_close(c_masked, c_short)


def test_embedding_mask_zero_reaches_the_recurrent_layer():
    embedding = Embedding(10, 1, mask_zero=True)
    embedding.ensure_built((None, 4))
    embedding.set_weights([torch.arange(10.0).reshape(10, 1)])  # id i -> vector [i]
    model = Sequential([embedding, accumulator()])
    ids = torch.tensor([[2, 0, 5, 0]])
    assert model(ids).squeeze(-1).tolist() == [[2.0, 2.0, 7.0, 7.0]]


def test_masking_layer_zeroes_masked_steps_and_masks_them():
    x = torch.tensor([[[1.0], [-1.0], [3.0], [4.0]]])
    model = Sequential([Masking(mask_value=-1.0), accumulator()])
    assert model(x).squeeze(-1).tolist() == [[1.0, 1.0, 4.0, 8.0]]
    assert Masking(-1.0)(x).squeeze(-1).tolist() == [[1.0, 0.0, 3.0, 4.0]]


def test_return_sequences_false_drops_the_mask():
    mask = torch.tensor([[True, False, True, True]])
    layer = SimpleRNN(2, return_sequences=False)
    assert layer.compute_mask(X, mask) is None
    assert SimpleRNN(2, return_sequences=True).compute_mask(X, mask) is mask
