"""Losses against Keras 3's own (torch backend) and against hand-derived values."""

import math

import keras
import numpy as np
import pytest
import torch

from lstmkit.training import losses

rng = np.random.default_rng(5)


def keras_value(fn, y_true, y_pred, **kwargs):
    return keras.ops.convert_to_numpy(fn(y_true, y_pred, **kwargs))


def softmax_rows(n=16, c=5, extreme=True):
    p = rng.dirichlet(np.ones(c), size=n).astype("float32")
    if extreme:  # exact zeros and ones exercise the clipping
        p[0] = np.eye(c, dtype="float32")[0]
        p[1] = np.eye(c, dtype="float32")[2]
    return p


def test_sparse_and_categorical_crossentropy_match_keras_on_probabilities():
    p = softmax_rows()
    labels = rng.integers(0, 5, size=16)
    labels[0], labels[1] = 3, 2  # a confident wrong answer (clipped at -log eps) and a confident right one
    ours = losses.sparse_categorical_crossentropy(torch.tensor(labels), torch.tensor(p)).numpy()
    np.testing.assert_allclose(ours, keras_value(keras.losses.sparse_categorical_crossentropy, labels, p), rtol=1e-6)
    one_hot = np.eye(5, dtype="float32")[labels]
    ours = losses.categorical_crossentropy(torch.tensor(one_hot), torch.tensor(p)).numpy()
    np.testing.assert_allclose(ours, keras_value(keras.losses.categorical_crossentropy, one_hot, p), rtol=1e-6)
    assert ours[0] == pytest.approx(-math.log(1e-7), rel=1e-6)


def test_from_logits_matches_keras_and_clipped_logits_match_keras_on_probabilities():
    z = rng.normal(scale=3.0, size=(16, 5)).astype("float32")
    z[0] = [40.0, -40.0, 0.0, 0.0, 0.0]  # softmax saturates: probabilities 1 and ~0
    labels = rng.integers(0, 5, size=16)
    labels[0] = 1
    unclipped = losses.sparse_categorical_crossentropy(torch.tensor(labels), torch.tensor(z), from_logits=True)
    np.testing.assert_allclose(
        unclipped.numpy(),
        keras_value(keras.losses.sparse_categorical_crossentropy, labels, z, from_logits=True), rtol=1e-5)
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(z))
    clipped = losses.sparse_categorical_crossentropy(torch.tensor(labels), torch.tensor(z), from_logits=True, clip=True)
    np.testing.assert_allclose(clipped.numpy(), keras_value(keras.losses.sparse_categorical_crossentropy, labels, probs),
                               rtol=1e-5)


def test_clipped_logits_path_stays_finite_where_probabilities_underflow():
    z = torch.tensor([[200.0, -200.0]], requires_grad=True)
    loss = losses.sparse_categorical_crossentropy(torch.tensor([1]), z, from_logits=True, clip=True)
    loss.sum().backward()
    assert loss.item() == pytest.approx(-math.log(1e-7), rel=1e-5)
    assert torch.isfinite(z.grad).all()


def test_binary_crossentropy_matches_keras():
    p = rng.uniform(size=(12, 3)).astype("float32")
    p[0, 0], p[1, 1] = 0.0, 1.0
    y = rng.integers(0, 2, size=(12, 3)).astype("float32")
    y[0, 0], y[1, 1] = 1.0, 0.0  # confidently wrong at the clipped extremes
    ours = losses.binary_crossentropy(torch.tensor(y), torch.tensor(p)).numpy()
    np.testing.assert_allclose(ours, keras_value(keras.losses.binary_crossentropy, y, p), rtol=1e-5)
    z = rng.normal(scale=4, size=(12, 3)).astype("float32")
    ours = losses.binary_crossentropy(torch.tensor(y), torch.tensor(z), from_logits=True).numpy()
    np.testing.assert_allclose(ours, keras_value(keras.losses.binary_crossentropy, y, z, from_logits=True), rtol=1e-5)
    sig = keras.ops.convert_to_numpy(keras.ops.sigmoid(z))
    ours = losses.binary_crossentropy(torch.tensor(y), torch.tensor(z), from_logits=True, clip=True).numpy()
    np.testing.assert_allclose(ours, keras_value(keras.losses.binary_crossentropy, y, sig), rtol=1e-4)


@pytest.mark.parametrize("name, theirs", [("mse", keras.losses.mean_squared_error), ("mae", keras.losses.mean_absolute_error),
                                          ("huber", keras.losses.huber)])
def test_regression_losses_match_keras(name, theirs):
    y, p = rng.normal(size=(10, 4)).astype("float32"), (2 * rng.normal(size=(10, 4))).astype("float32")
    np.testing.assert_allclose(losses.get(name)(torch.tensor(y), torch.tensor(p)).numpy(), keras_value(theirs, y, p),
                               rtol=1e-6)


def test_hand_values_and_reduction():
    assert losses.huber(torch.tensor([[0.0, 0.0]]), torch.tensor([[0.5, 3.0]])).item() == pytest.approx((0.125 + 2.5) / 2)
    seq = losses.sparse_categorical_crossentropy(torch.tensor([[0, 1]]), torch.tensor([[[0.25, 0.75], [0.5, 0.5]]]))
    torch.testing.assert_close(seq, torch.tensor([[math.log(4), math.log(2)]]))
    assert losses.reduce(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([1.0, 0.0])).item() == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="Unknown loss 'crossentropy'"):
        losses.get("crossentropy")
