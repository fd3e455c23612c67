"""Callbacks: Keras's EarlyStopping as the oracle on the same sequences of logs, hand-worked
sequences for the others, and fits that exercise each one end to end."""

import csv
import math
import os

import keras
import numpy as np
import pytest

from lstmkit import callbacks
from lstmkit.layers import LSTM, Dense
from lstmkit.models import Sequential, load_model
from lstmkit.optimizers import SGD
from lstmkit.utils import set_random_seed

rng = np.random.default_rng(8)
x = rng.normal(size=(30, 5, 2)).astype("float32")
y = rng.integers(0, 3, size=30)


def model(lr=0.1):
    set_random_seed(0)
    m = Sequential([LSTM(6, input_shape=(5, 2)), Dense(3, activation="softmax")])
    m.compile(optimizer=SGD(learning_rate=lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


class StubModel:
    """What a monitoring callback touches: stop_training and weights (here, the epoch's number)."""

    def __init__(self):
        self.stop_training = False
        self.weights = [np.zeros(1)]
        self.metrics = []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = weights


def drive(callback, values, monitor="val_loss"):
    """Runs a callback over epochs whose monitored value is `values`; returns (last epoch run, weights)."""
    model = StubModel()
    callback.set_model(model)
    callback.on_train_begin()
    last = None
    for epoch, value in enumerate(values):
        model.weights = [np.array([float(epoch)])]
        callback.on_epoch_end(epoch, {monitor: value})
        last = epoch
        if model.stop_training:
            break
    callback.on_train_end()
    return last, float(model.weights[0][0])


SEQUENCES = [
    [1.0, 0.9, 0.95, 0.97, 0.96, 0.5, 0.4],
    [1.0, 1.0, 1.0, 1.0],
    [3.0, 2.0, 1.0, 0.5, 0.4, 0.39, 0.385],
    [0.5, 0.7, 0.4, 0.8, 0.9, 0.95, 0.3],
]


@pytest.mark.parametrize("values", SEQUENCES)
@pytest.mark.parametrize(
    "settings",
    [
        dict(patience=0),
        dict(patience=2),
        dict(patience=1, min_delta=0.05),
        dict(patience=2, restore_best_weights=True),
        dict(patience=1, baseline=0.45),
        dict(patience=1, start_from_epoch=2, restore_best_weights=True),
        dict(patience=1, mode="max"),
    ],
)
def test_early_stopping_stops_and_restores_where_keras_does(values, settings):
    ours = drive(callbacks.EarlyStopping(**settings), values)
    theirs = drive(keras.callbacks.EarlyStopping(**settings), values)
    assert ours == theirs


def falling_loss_run(m, epochs, stopper, **fit_args):
    """Fits `m` (one full batch an epoch) with `stopper`, recording the weights after every epoch.

    The training loss falls from epoch to epoch by far more than a change of summation order (a
    few ulps, ~1e-7) can move it, so "max" mode sees its best at the first epoch on any processor.
    """
    after_epoch = []
    record = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: after_epoch.append(m.get_weights()))
    history = m.fit(x, y, epochs=epochs, batch_size=len(x), callbacks=[record, stopper], verbose=0, **fit_args)
    for key in history.history:
        if key.endswith("loss"):
            assert np.all(np.diff(history.history[key]) < -1e-3), history.history[key]  # the premise
    return history, after_epoch


def test_early_stopping_in_fit_restores_the_best_weights():
    m = model(lr=0.5)
    stopper = callbacks.EarlyStopping(monitor="loss", mode="max", patience=2, restore_best_weights=True)
    history, after_epoch = falling_loss_run(m, 10, stopper)
    assert len(history.history["loss"]) == 3 and stopper.stopped_epoch == 2
    assert any(not np.array_equal(a, b) for a, b in zip(after_epoch[0], after_epoch[-1]))  # training moved them
    for restored, best in zip(m.get_weights(), after_epoch[0]):
        np.testing.assert_array_equal(restored, best)  # a copy put back: bit for bit


def rates_under(reducer, optimizer_holder, values):
    reducer.set_model(optimizer_holder)
    reducer.on_train_begin()
    rates = []
    for epoch, value in enumerate(values):
        logs = {"val_loss": value}
        reducer.on_epoch_end(epoch, logs)
        rates.append(float(optimizer_holder.optimizer.learning_rate))
        assert logs["learning_rate"] == pytest.approx(rates[-1] if epoch == 0 else logs["learning_rate"])
    return rates


@pytest.mark.parametrize("values", SEQUENCES + [[1.0] * 9])
@pytest.mark.parametrize(
    "settings",
    [
        dict(factor=0.5, patience=2, cooldown=1, min_lr=0.15),
        dict(factor=0.1, patience=1, min_delta=0.05),
        dict(factor=0.5, patience=1, cooldown=2, mode="max"),
    ],
)
def test_reduce_lr_on_plateau_follows_keras(values, settings):
    theirs = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)])
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.8), loss="mse")
    expected = rates_under(keras.callbacks.ReduceLROnPlateau(**settings), theirs, values)
    got = rates_under(callbacks.ReduceLROnPlateau(**settings), model(lr=0.8), values)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_reduce_lr_on_plateau_by_hand():
    """patience 2, factor 0.5, min_lr 0.15, a flat val_loss: halve at epochs 2 and 4, then stop at the floor."""
    got = rates_under(callbacks.ReduceLROnPlateau(factor=0.5, patience=2, min_lr=0.15), model(lr=0.8), [1.0] * 9)
    assert got == [0.8, 0.8, 0.4, 0.4, 0.2, 0.2, 0.15, 0.15, 0.15]
    with pytest.raises(ValueError, match="factor=1.5"):
        callbacks.ReduceLROnPlateau(factor=1.5)


def test_learning_rate_scheduler_sets_the_rate_each_epoch():
    m = model()
    scheduler = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5**epoch)
    history = m.fit(x, y, epochs=3, callbacks=[scheduler], verbose=0)
    assert history.history["learning_rate"] == [0.1, 0.05, 0.025]
    only_epoch = callbacks.LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))
    model().fit(x, y, epochs=2, callbacks=[only_epoch], verbose=0)
    with pytest.raises(ValueError, match="must return a number"):
        model().fit(x, y, callbacks=[callbacks.LearningRateScheduler(lambda e, lr: "fast")], verbose=0)


def test_csv_logger_writes_a_row_per_epoch_and_appends(tmp_path):
    path = tmp_path / "log.csv"
    m = model()
    m.fit(x, y, epochs=2, validation_data=(x, y), callbacks=[callbacks.CSVLogger(path)], verbose=0)
    m.fit(x, y, epochs=3, initial_epoch=2, validation_data=(x, y), callbacks=[callbacks.CSVLogger(path, append=True)], verbose=0)
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["0", "1", "2"]
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(0 <= float(row["val_accuracy"]) <= 1 for row in rows)


def test_terminate_on_nan_stops_after_the_first_bad_batch():
    def exploding(y_true, y_pred):
        return (y_pred.sum(-1) * math.nan)

    m = Sequential([LSTM(3, input_shape=(5, 2)), Dense(1)])
    m.compile(optimizer="sgd", loss=exploding)
    batches = []
    spy = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(batch))
    history = m.fit(x, y[:, None].astype("float32"), batch_size=5, epochs=3, callbacks=[callbacks.TerminateOnNaN(), spy], verbose=0)
    assert batches == [0]
    assert history.epoch == [0]


def test_model_checkpoint_best_only_and_formatted_names(tmp_path):
    m = model()
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{loss:.2f}.lstmkit")
    saved = []
    checkpoint = callbacks.ModelCheckpoint(pattern, monitor="loss")
    m.fit(x, y, epochs=2, callbacks=[checkpoint, callbacks.LambdaCallback(on_epoch_end=lambda e, logs: saved.append(logs["loss"]))], verbose=0)
    names = sorted(os.listdir(tmp_path))
    assert names == [f"ckpt-01-{saved[0]:.2f}.lstmkit", f"ckpt-02-{saved[1]:.2f}.lstmkit"]
    np.testing.assert_allclose(load_model(tmp_path / names[-1]).predict(x), m.predict(x))

    best = tmp_path / "best.weights"
    m = model(lr=0.5)
    checkpoint = callbacks.ModelCheckpoint(best, monitor="val_loss", mode="max", save_best_only=True,
                                           save_weights_only=True)
    writes = []
    original = m.save_weights
    m.save_weights = lambda path: (writes.append(path), original(path))
    _, after_epoch = falling_loss_run(m, 3, checkpoint, validation_data=(x, y))
    assert writes == [str(best)]  # a falling val_loss in "max" mode improves only on the first epoch
    fresh = model()
    fresh.load_weights(best)
    for loaded, first in zip(fresh.get_weights(), after_epoch[0]):
        np.testing.assert_array_equal(loaded, first)


def test_monitor_needs_a_mode_for_unknown_figures():
    stopper = callbacks.EarlyStopping(monitor="val_my_score")
    with pytest.raises(ValueError, match="pass mode='max' or mode='min'"):
        drive(stopper, [1.0, 2.0], monitor="val_my_score")


def test_a_missing_monitor_warns_and_does_nothing():
    with pytest.warns(UserWarning, match="'val_loss', which is not in the logs"):
        assert drive(callbacks.EarlyStopping(), [1.0, 1.0, 1.0], monitor="loss") == (2, 2.0)


def test_user_callbacks_get_keras_hooks_in_order():
    calls = []

    class Recorder(callbacks.Callback):
        def on_train_begin(self, logs=None):
            calls.append(("train_begin", self.params["epochs"], self.params["steps"]))

        def on_epoch_begin(self, epoch, logs=None):
            calls.append(("epoch_begin", epoch))

        def on_batch_end(self, batch, logs=None):  # Keras 2's name for on_train_batch_end
            calls.append(("batch_end", batch, sorted(logs)))

        def on_test_begin(self, logs=None):
            calls.append(("test_begin",))

        def on_epoch_end(self, epoch, logs=None):
            calls.append(("epoch_end", epoch, sorted(logs)))
            if epoch == 1:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            calls.append(("train_end",))

    m = model()
    m.fit(x, y, batch_size=20, epochs=5, validation_data=(x, y), callbacks=[Recorder()], verbose=0)
    per_epoch = lambda e: [
        ("epoch_begin", e),
        ("batch_end", 0, ["accuracy", "loss"]),
        ("batch_end", 1, ["accuracy", "loss"]),
        ("test_begin",),
        ("epoch_end", e, ["accuracy", "loss", "val_accuracy", "val_loss"]),
    ]
    assert calls == [("train_begin", 5, 2), *per_epoch(0), *per_epoch(1), ("train_end",)]


def test_callbacks_must_be_callback_objects():
    with pytest.raises(TypeError, match=r"lstmkit.callbacks.Callback objects .*callbacks\[0\]="):
        model().fit(x, y, callbacks=[lambda: None], verbose=0)


def test_lambda_callback_hooks_get_logs_as_in_keras():
    """Keras calls every hook with logs: a Keras program's LambdaCallback takes them."""
    calls = []
    hooks = callbacks.LambdaCallback(
        on_train_begin=lambda logs: calls.append(("train_begin", logs)),
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch, logs)),
        on_train_batch_begin=lambda batch, logs: calls.append(("batch_begin", batch, logs)),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, sorted(logs))),
        on_train_end=lambda logs: calls.append(("train_end", logs)),
    )
    model().fit(x, y, batch_size=30, epochs=1, callbacks=[hooks], verbose=0)
    assert calls == [("train_begin", {}), ("epoch_begin", 0, {}), ("batch_begin", 0, {}),
                     ("epoch_end", 0, ["accuracy", "loss"]), ("train_end", {})]
