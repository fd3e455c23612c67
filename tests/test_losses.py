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


# ---- Keras's other losses, its loss classes and metric classes (oracle: Keras 3) -------------------

KERAS_LOSS_CLASSES = ["MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError",
                      "MeanSquaredLogarithmicError", "LogCosh", "KLDivergence", "Poisson", "Hinge", "SquaredHinge",
                      "CosineSimilarity", "Huber"]


@pytest.mark.parametrize("name", KERAS_LOSS_CLASSES)
def test_loss_classes_and_functions_match_keras_3(name):
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    import numpy as np

    import lstmkit.losses as OL

    rng = np.random.default_rng(5)
    y_true = rng.uniform(0, 1, (6, 4)).astype("float32")
    y_pred = rng.uniform(0.05, 1, (6, 4)).astype("float32")
    if name in ("Hinge", "SquaredHinge"):
        y_true = (y_true > 0.5).astype("float32")
    expected = keras.ops.convert_to_numpy(getattr(keras.losses, name)(reduction=None)(y_true, y_pred))
    ours = getattr(OL, name)()
    np.testing.assert_allclose(ours.per_sample(torch.tensor(y_true), torch.tensor(y_pred)).numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(OL.get(ours.name)(torch.tensor(y_true), torch.tensor(y_pred)).numpy(), expected,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", [
    lambda L: L.SparseCategoricalCrossentropy(from_logits=True),
    lambda L: L.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
    lambda L: L.CategoricalCrossentropy(label_smoothing=0.2),
    lambda L: L.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
    lambda L: L.BinaryCrossentropy(),
])
def test_crossentropy_classes_with_logits_and_smoothing_match_keras_3(make):
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    import numpy as np

    import lstmkit.losses as OL

    rng = np.random.default_rng(6)
    theirs, ours = make(keras.losses), make(OL)
    logits = rng.normal(size=(6, 5)).astype("float32") * 2
    pred = logits if ours.from_logits else (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype("float32")
    if isinstance(ours, OL.SparseCategoricalCrossentropy):
        y = rng.integers(0, 5, 6)
    else:
        y = np.eye(5, dtype="float32")[rng.integers(0, 5, 6)]
    expected = keras.ops.convert_to_numpy(theirs(y, pred))  # Keras's mean over the batch
    np.testing.assert_allclose(ours(torch.tensor(y), torch.tensor(pred)).mean().item(), expected, rtol=1e-5)


def test_metric_objects_report_as_keras_names_them_and_a_model_keeps_them():
    import numpy as np

    import lstmkit.layers as L
    import lstmkit.losses as OL
    import lstmkit.metrics as OM
    from lstmkit.models import Sequential, load_model

    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(40, 3)).astype("float32"), rng.normal(size=(40, 2)).astype("float32")
    model = Sequential([L.Input(shape=(3,)), L.Dense(2)])
    model.compile("sgd", OL.Huber(delta=0.5), metrics=[OM.RootMeanSquaredError(), OM.MeanAbsoluteError(), "mape"])
    result = model.evaluate(x, y, batch_size=7, return_dict=True, verbose=0)
    p = model.predict(x)
    assert set(result) == {"loss", "root_mean_squared_error", "mean_absolute_error", "mape"}
    assert result["root_mean_squared_error"] == pytest.approx(float(np.sqrt(((p - y) ** 2).mean())), rel=1e-5)
    assert result["mean_absolute_error"] == pytest.approx(float(np.abs(p - y).mean()), rel=1e-5)
    import tempfile, os

    with tempfile.TemporaryDirectory() as d:
        model.save(os.path.join(d, "m.lstmkit"))
        back = load_model(os.path.join(d, "m.lstmkit"))
    assert isinstance(back.loss, OL.Huber) and back.loss.delta == 0.5
    assert back.evaluate(x, y, batch_size=7, return_dict=True, verbose=0) == pytest.approx(result)
