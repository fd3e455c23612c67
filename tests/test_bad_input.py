"""Bad data wherever a user passes it (fit, evaluate, predict, train_on_batch, validation_data):
a ValueError or TypeError naming the argument, never a stack trace from inside torch; and a clear
report at the first batch whose loss is not finite."""

import re
import warnings

import numpy as np
import pytest

import lstmkit.layers as L
from lstmkit.callbacks import TerminateOnNaN
from lstmkit.models import Sequential
from lstmkit.optimizers import SGD

rng = np.random.default_rng(3)
X = rng.random((10, 5, 3)).astype("float32")
Y = np.arange(10) % 3


def model():
    m = Sequential([L.Input(shape=(5, 3)), L.LSTM(4), L.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def with_nan(a, where=7):
    a = a.astype("float64").copy()
    a.flat[where] = np.nan
    return a


# (x, y, error type, a pattern the message must match)
BAD = {
    "NaN in x": (with_nan(X), Y, ValueError, r"x holds 1 NaN or infinite.*index \(0, 2, 1\)"),
    "inf in x": (np.where(X > 0.9, np.inf, X), Y, ValueError, r"x holds \d+ NaN or infinite"),
    "-inf in x": (np.where(X > 0.9, -np.inf, X), Y, ValueError, r"x holds \d+ NaN or infinite"),
    "NaN in y": (X, with_nan(Y, 2), ValueError, r"y"),
    "empty x": (X[:0], Y[:0], ValueError, r"x holds no samples"),
    "x and y lengths differ": (X, Y[:7], ValueError, r"x and y .* 10 .* 7"),
    "ragged lists": ([[[0.0] * 3] * 5, [[0.0] * 3] * 4], [0, 1], TypeError, r"x .*ragged"),
    "strings": (np.full((10, 5, 3), "a"), Y, TypeError, r"x .*dtype <U1"),
    "objects": (np.full((10, 5, 3), None, dtype=object), Y, TypeError, r"x .*dtype object"),
    "complex numbers": (X.astype(np.complex64), Y, TypeError, r"x .*complex64"),
    "a rank too few": (X[:, :, 0], Y, ValueError, r"x of shape \(10, 5\): rank 2, not 3"),
    "a rank too many": (X[..., None], Y, ValueError, r"rank 4, not 3"),
    "feature size": (rng.random((10, 5, 4)), Y, ValueError, r"\(5, 4\), not \(5, 3\)"),
    "sequences longer than the Input": (rng.random((10, 9, 3)), Y, ValueError, r"\(9, 3\), not \(5, 3\)"),
    "labels above the classes": (X, Y + 3, ValueError, r"label [3-5], outside the model's 3 classes"),
    "negative labels": (X, Y - 1, ValueError, r"label -1"),
    "fractional labels": (X, Y + 0.5, ValueError, r"y .*integer class ids"),
    "string labels": (X, np.array(["a"] * 10), TypeError, r"y .*dtype <U1"),
    "x None": (None, Y, ValueError, r"x is required"),
    "y None": (X, None, ValueError, r"y is required"),
}


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("method", ["fit", "evaluate", "train_on_batch"])
def test_bad_training_data_is_named(case, method):
    x, y, error, pattern = BAD[case]
    m = model()
    with pytest.raises(error) as caught:
        if method == "fit":
            m.fit(x, y, epochs=1, verbose=0)
        elif method == "evaluate":
            m.evaluate(x, y, verbose=0)
        else:
            m.train_on_batch(x, y)
    assert re.search(pattern, str(caught.value)), str(caught.value)


PREDICT_BAD = [k for k in BAD if BAD[k][1] is Y and k != "x None" or k in ("ragged lists",)]


@pytest.mark.parametrize("case", PREDICT_BAD)
def test_bad_inputs_to_predict_are_named(case):
    x, _, error, pattern = BAD[case]
    with pytest.raises(error) as caught:
        model().predict(x)
    assert re.search(pattern, str(caught.value)), str(caught.value)


@pytest.mark.parametrize("validation_data,pattern", [
    ((X,), r"validation_data as \(x_val, y_val\).*length 1"),
    ((X, Y, None, None), r"length 4"),
    ("data", r"got str"),
    ((with_nan(X), Y), r"validation_data\[0\] holds 1 NaN"),
    ((X[:, :4], Y), r"validation_data\[0\] of shape \(10, 4, 3\)"),
    ((X, Y[:3]), r"validation_data\[0\] and validation_data\[1\]"),
    ((X, Y + 7), r"validation_data\[1\] contains the label"),
])
def test_bad_validation_data_is_named(validation_data, pattern):
    with pytest.raises((ValueError, TypeError)) as caught:
        model().fit(X, Y, epochs=1, verbose=0, validation_data=validation_data)
    assert re.search(pattern, str(caught.value)), str(caught.value)


def test_nonfinite_inputs_pass_when_asked():
    m = model()
    m.check_finite = False
    assert np.isnan(m.predict(with_nan(X))).any()


def test_the_first_nonfinite_loss_is_reported_once():
    m = Sequential([L.Input(shape=(5, 3)), L.LSTM(4), L.Dense(1)])
    m.compile(optimizer=SGD(learning_rate=1e6), loss="mse")  # diverges within a few steps
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m.fit(X, rng.random(10) * 1e3, batch_size=2, epochs=4, verbose=0)
    reports = [w for w in caught if "non-finite loss" in str(w.message)]
    assert len(reports) == 1, [str(w.message) for w in caught]
    message = str(reports[0].message)
    assert re.search(r"became (nan|inf) at epoch \d+, batch \d+", message) and "clipnorm" in message


def test_terminate_on_nan_stops_at_that_batch(capsys):
    m = Sequential([L.Input(shape=(5, 3)), L.LSTM(4), L.Dense(1)])
    m.compile(optimizer=SGD(learning_rate=1e6), loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = m.fit(X, rng.random(10) * 1e3, batch_size=2, epochs=4, verbose=0, callbacks=[TerminateOnNaN()])
    out = capsys.readouterr().out
    found = re.search(r"Epoch (\d+), batch (\d+): invalid loss", out)
    assert found, out
    assert len(history.history["loss"]) == int(found.group(1))  # the epoch it stopped in is the last


def test_count_of_bad_inputs():
    """The note reports this number."""
    assert len(BAD) * 3 + len(PREDICT_BAD) + 7 >= 70


def test_a_nonfinite_value_in_a_loaders_batch_is_refused_by_name():
    """A loader's batches are checked as each arrives (the step itself checks nothing again)."""
    import torch

    data = torch.utils.data.TensorDataset(torch.as_tensor(with_nan(X)), torch.as_tensor(Y))
    with pytest.raises(ValueError, match=r"batch x holds 1 NaN or infinite values"):
        model().fit(torch.utils.data.DataLoader(data, batch_size=4), epochs=1, verbose=0)
