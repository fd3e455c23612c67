"""fit / evaluate behaviour beyond the numbers Keras checks: inputs, splits, progress display,
reproducibility and errors."""

import io

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lstmkit.layers import GRU, LSTM, Dense, Dropout
from lstmkit.models import Sequential
from lstmkit.optimizers import SGD
from lstmkit.training.progress import Progbar
from lstmkit.utils import set_random_seed

rng = np.random.default_rng(3)
x = rng.normal(size=(50, 6, 3)).astype("float32")
y = rng.integers(0, 4, size=50)


def model(seed=0, dropout=0.1):
    set_random_seed(seed)
    m = Sequential([LSTM(8, input_shape=(6, 3)), Dropout(dropout), Dense(4, activation="softmax")])
    m.compile(optimizer=SGD(learning_rate=0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def test_numpy_tensor_dataset_and_loader_inputs_train_identically():
    results = []
    for make_input in (
        lambda: dict(x=x, y=y),
        lambda: dict(x=torch.tensor(x), y=torch.tensor(y)),
        lambda: dict(x=TensorDataset(torch.tensor(x), torch.tensor(y))),
        lambda: dict(x=DataLoader(TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=10)),
    ):
        m = model(dropout=0.0)  # a DataLoader draws from torch's generator, which would shift dropout's draws
        history = m.fit(**make_input(), batch_size=10, epochs=2, shuffle=False, verbose=0)
        results.append((history.history["loss"], m.get_weights()))
    for losses, weights in results[1:]:
        np.testing.assert_allclose(losses, results[0][0], rtol=1e-6)
        for a, b in zip(weights, results[0][1]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_loader_with_sample_weights_and_validation_loader():
    m = model()
    weights = torch.ones(50)
    loader = DataLoader(TensorDataset(torch.tensor(x), torch.tensor(y), weights), batch_size=16)
    history = m.fit(loader, epochs=2, validation_data=DataLoader(TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=16), verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(history.history["val_loss"]) == 2


def test_validation_split_holds_out_the_last_samples():
    m = model()
    m.compile(optimizer=SGD(learning_rate=0.0), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = m.fit(x, y, batch_size=8, validation_split=0.2, verbose=0)
    expected = m.evaluate(x[40:], y[40:], verbose=0)
    np.testing.assert_allclose([history.history["val_loss"][0], history.history["val_accuracy"][0]], expected, rtol=1e-6)


def test_sample_weight_zero_leaves_the_weights_and_scales_the_loss():
    m = model()
    before = m.get_weights()
    m.fit(x, y, sample_weight=np.zeros(50), epochs=1, verbose=0)
    for a, b in zip(m.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    loss = m.evaluate(x, y, verbose=0)[0]
    assert m.evaluate(x, y, sample_weight=np.full(50, 2.0), verbose=0)[0] == pytest.approx(2 * loss, rel=1e-6)


def test_initial_epoch_and_history():
    m = model()
    history = m.fit(x, y, epochs=5, initial_epoch=3, verbose=0)
    assert history.epoch == [3, 4]
    assert len(history.history["loss"]) == 2
    assert m.history is history


def test_steps_per_epoch_cycles_through_the_data():
    m = model()
    seen = []
    from lstmkit.callbacks import LambdaCallback

    history = m.fit(x, y, batch_size=20, epochs=2, steps_per_epoch=4, verbose=0,
                    callbacks=[LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))])
    assert seen == [0, 1, 2, 3, 0, 1, 2, 3]  # 3 batches of data per pass, so each epoch wraps around
    assert m.optimizer.iterations == 8
    assert len(history.history["loss"]) == 2


def test_the_same_seed_gives_the_same_run():
    runs = []
    for _ in range(2):
        m = model(seed=11)
        history = m.fit(x, y, batch_size=8, epochs=2, verbose=0)  # shuffled, with dropout
        runs.append((history.history["loss"], m.get_weights()))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)
    other = model(seed=12).fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert other.history["loss"] != runs[0][0]


def test_evaluate_returns_loss_alone_without_metrics_and_a_dict_on_request():
    m = model()
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert isinstance(m.evaluate(x, y, verbose=0), float)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["acc", "sparse_categorical_crossentropy"])
    loss, acc, ce = m.evaluate(x, y, verbose=0)
    assert ce == pytest.approx(loss, rel=1e-6)
    assert 0 <= acc <= 1
    assert m.evaluate(x, y, verbose=0, return_dict=True) == {"loss": loss, "acc": acc, "sparse_categorical_crossentropy": ce}
    assert m.metrics_names == ["loss", "acc", "sparse_categorical_crossentropy"]


def test_accuracy_matches_a_hand_count():
    m = model()
    predicted = m.predict(x).argmax(-1)
    _, accuracy = m.evaluate(x, y, batch_size=7, verbose=0)
    assert accuracy == pytest.approx(np.mean(predicted == y))


def test_train_and_test_on_batch():
    m = model()
    loss_before, _ = m.test_on_batch(x, y)
    m.train_on_batch(x, y)
    assert m.optimizer.iterations == 1
    loss_after, _ = m.test_on_batch(x, y)
    assert loss_after != loss_before


def test_a_model_without_input_shape_is_built_by_fit():
    set_random_seed(0)
    m = Sequential([GRU(5), Dense(1)])
    m.compile(optimizer="adam", loss="mse")
    m.fit(x, rng.normal(size=(50, 1)), epochs=1, verbose=0)
    assert m.built and m.optimizer.built


def test_fit_trains_a_model_that_learns():
    """A learnable task (the sign of the sum of the sequence) must reach high accuracy."""
    set_random_seed(0)
    inputs = rng.normal(size=(400, 5, 2)).astype("float32")
    labels = (inputs.sum(axis=(1, 2)) > 0).astype("float32")
    m = Sequential([LSTM(16, input_shape=(5, 2)), Dense(1, activation="sigmoid")])
    m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = m.fit(inputs, labels, batch_size=32, epochs=15, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    assert history.history["loss"][-1] < history.history["loss"][0] / 2


# ---- the progress display -------------------------------------------------------------------


def captured_fit(capsys, **kwargs):
    m = model()
    m.fit(x, y, batch_size=10, epochs=2, validation_data=(x, y), **kwargs)
    return capsys.readouterr().out


def test_verbose_1_prints_a_bar_per_epoch_with_validation_figures(capsys):
    out = captured_fit(capsys, verbose=1)
    lines = out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert lines[1].startswith("5/5 ━━━━━━━━━━━━━━━━━━━━ ") and "ms/step" in lines[1]
    for name in ("accuracy", "loss", "val_accuracy", "val_loss"):
        assert f" - {name}: " in lines[1]
    assert "\r" not in out  # captured output is not a terminal: plain lines only
    assert len(lines) == 4


def test_verbose_2_and_0(capsys):
    assert len(captured_fit(capsys, verbose=2).splitlines()) == 4
    assert captured_fit(capsys, verbose=0) == ""


def test_progbar_redraws_in_place_on_a_terminal_and_writes_lines_otherwise():
    stream = io.StringIO()
    bar = Progbar(100, stream=stream, interactive=True)
    for step in range(1, 101):
        bar.update(step, {"loss": 1.0 / step})
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.count("\r") >= 2
    assert "100/100" in text.splitlines()[-1] and "loss: 0.0100" in text
    assert "ETA" in text  # shown while running

    stream = io.StringIO()
    bar = Progbar(100, stream=stream, interactive=False, plain_interval=0.0)
    for step in range(1, 101):
        bar.update(step, {"loss": 1.0})
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0].startswith("  1/100 ") and "ETA" in lines[0]
    assert lines[-1].startswith("100/100 ") and "ETA" not in lines[-1]


# ---- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(x=x, y=y[:49]), "x and y must hold the same number of samples, got x with 50 and y with 49"),
        (dict(x=x, y=np.full(50, 4)), "y contains the label 4, outside the model's 4 classes"),
        (dict(x=x, y=np.full(50, -1)), "y contains the label -1"),
        (dict(x=x[:, :, :2], y=y), "expects x of shape (None, 6, 3)"),
        (dict(x=x, y=y, batch_size=0), "batch_size=0"),
        (dict(x=x, y=y, batch_size=-3), "batch_size=-3"),
        (dict(x=x, y=y, epochs=-1), "epochs=-1"),
        (dict(x=x, y=y, validation_split=1.0), "validation_split=1.0"),
        (dict(x=x, y=y, validation_data=(x, y[:3])), "validation_data[0] and validation_data[1] must hold the same number"),
        (dict(x=x, y=y, validation_data=(x[:, :, :1], y)), "expects validation_data[0] of shape"),
        (dict(x=x, y=y, validation_data=x), "Expected validation_data as (x_val, y_val)"),
        (dict(x=x, y=y, sample_weight=np.ones(3)), "x and sample_weight must hold the same number of samples"),
        (dict(x=x, y=y, class_weight={0: 1.0}), "class_weight has no weight for class(es) [1, 2, 3]"),
        (dict(x=x, y=np.eye(4)[y]), "y holds class ids of shape (50, 4)"),
        (dict(x=x), "y is required"),
        (dict(x=TensorDataset(torch.tensor(x), torch.tensor(y)), y=y), "y must be None when x is a torch Dataset"),
    ],
)
def test_bad_fit_input_is_a_value_error_naming_the_argument(kwargs, message):
    with pytest.raises(ValueError) as info:
        model().fit(verbose=0, **kwargs)
    assert message in str(info.value)


def test_bad_labels_in_a_loader_are_caught_per_batch():
    loader = DataLoader(TensorDataset(torch.tensor(x), torch.full((50,), 9)), batch_size=10)
    with pytest.raises(ValueError, match="batch y contains the label 9"):
        model().fit(loader, verbose=0)


def test_bad_evaluate_input():
    m = model()
    with pytest.raises(ValueError, match="verbose=3"):
        m.evaluate(x, y, verbose=3)
    with pytest.raises(ValueError, match="x and y must hold the same number of samples"):
        m.evaluate(x, y[:10], verbose=0)
    with pytest.raises(ValueError, match="y contains the label 7"):
        m.evaluate(x, np.full(50, 7), verbose=0)
    with pytest.raises(ValueError, match="batch_size=0"):
        m.evaluate(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="expects x of shape"):
        m.evaluate(x[:, :2], y, verbose=0)


def test_regression_targets_must_match_the_output():
    m = Sequential([LSTM(3, input_shape=(6, 3)), Dense(2)])
    m.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"y has shape \(50, 3\), but the model outputs \(None, 2\)"):
        m.fit(x, np.zeros((50, 3)), verbose=0)
    one = Sequential([LSTM(3, input_shape=(6, 3)), Dense(1)])
    one.compile(optimizer="sgd", loss="mse")
    one.fit(x, np.zeros(50), verbose=0)  # (N,) targets for an (N, 1) output, as Keras allows


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(optimizer="adamw2", loss="mse"), "Unknown optimizer 'adamw2'"),
        (dict(optimizer="adam", loss="mean_squared_logarithmic"), "Unknown loss 'mean_squared_logarithmic'"),
        (dict(optimizer="adam", loss="mse", metrics=["precision@5"]), "Unknown metric 'precision@5'"),
        (dict(optimizer="adam", loss="mse", metrics=[3]), "metrics entry 3"),
        (dict(optimizer="adam", loss="mse", metrics=["mae", "mae"]), "Metric names must be unique"),
    ],
)
def test_unknown_names_in_compile(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        model().compile(**kwargs)


def test_fit_before_compile():
    m = Sequential([LSTM(3, input_shape=(6, 3)), Dense(2)])
    with pytest.raises(ValueError, match=r"Call model.compile\(optimizer=..., loss=...\) before model.fit\(\)"):
        m.fit(x, y)
