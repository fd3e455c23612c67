"""Dropout and recurrent dropout: active only in training, one mask per sequence."""

import pytest
import torch

from lstmkit.layers import Dropout, SimpleRNN
from lstmkit.models import Sequential

P = 0.5
B, T, D = 64, 5, 8


def identity_rnn(**kwargs):
    """Linear SimpleRNN with kernel I and recurrent 0: the output at step t is x_t as the cell saw it."""
    layer = SimpleRNN(D, activation="linear", return_sequences=True, **kwargs)
    layer.ensure_built((None, T, D))
    layer.set_weights([torch.eye(D), torch.zeros(D, D), torch.zeros(D)])
    return layer


def test_input_dropout_draws_one_mask_per_sequence():
    out = identity_rnn(dropout=P).train()(torch.ones(B, T, D))
    first = out[:, 0]
    assert set(first.unique().tolist()) == {0.0, 1.0 / (1 - P)}
    for t in range(1, T):
        assert torch.equal(out[:, t], first)  # the same mask at every step
    assert not torch.equal(first[0], first[1]) or not torch.equal(first[1], first[2])  # masks differ by sample


def test_recurrent_dropout_masks_the_recurrent_input_the_same_way_each_step():
    """Kernel 0 and recurrent I with h_0 = 1: h_t = h_{t-1} * m, so h_t = m**t elementwise."""
    layer = SimpleRNN(D, activation="linear", return_sequences=True, recurrent_dropout=P)
    layer.ensure_built((None, T, D))
    layer.set_weights([torch.zeros(D, D), torch.eye(D), torch.zeros(D)])
    out = layer.train()(torch.zeros(B, T, D), initial_state=[torch.ones(B, D)])
    mask = out[:, 0]
    assert set(mask.unique().tolist()) == {0.0, 1.0 / (1 - P)}
    for t in range(T):
        torch.testing.assert_close(out[:, t], mask ** (t + 1))


def test_no_dropout_at_inference():
    layer = identity_rnn(dropout=P, recurrent_dropout=P).eval()
    x = torch.randn(B, T, D)
    torch.testing.assert_close(layer(x), x)
    torch.testing.assert_close(layer(x, training=False), x)


def test_training_argument_overrides_module_mode():
    layer = identity_rnn(dropout=P).eval()
    assert (layer(torch.ones(B, T, D), training=True) == 0).any()


def test_dropout_layer_scales_kept_units_and_is_identity_in_predict():
    layer = Dropout(0.25).train()
    y = layer(torch.ones(1000, 10))
    torch.testing.assert_close(y.unique(), torch.tensor([0.0, 1.0 / 0.75]))
    model = Sequential([Dropout(0.25, input_shape=(10,))])
    x = torch.randn(7, 10).numpy()
    assert (model.predict(x) == x).all()


def test_dropout_noise_shape_shares_the_mask_over_time():
    y = Dropout(0.5, noise_shape=(None, 1, None)).train()(torch.ones(16, 6, 4))
    for t in range(1, 6):
        assert torch.equal(y[:, t], y[:, 0])


@pytest.mark.parametrize("value", [-0.1, 1.0, 2, "0.5", True])
def test_rates_outside_the_unit_interval_are_refused(value):
    with pytest.raises(ValueError, match="dropout"):
        SimpleRNN(3, dropout=value)
    with pytest.raises(ValueError, match="recurrent_dropout"):
        SimpleRNN(3, recurrent_dropout=value)
    with pytest.raises(ValueError, match="rate"):
        Dropout(value)
