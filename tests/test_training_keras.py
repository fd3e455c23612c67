"""Training against Keras 3 (torch backend) as the oracle: the same model, weights and data must
give Keras's `evaluate` figures, and the same weights after full-batch optimizer steps."""

import keras
import numpy as np
import pytest

import lstmkit.layers as L
from lstmkit import optimizers
from lstmkit.models import Sequential

rng = np.random.default_rng(77)


def pair(build):
    """The model built with Keras and with lstmkit; lstmkit gets Keras's (randomised) weights."""
    theirs, ours = build(keras.layers, keras.Sequential), build(L, Sequential)
    theirs.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    return theirs, ours


def seq_classifier(K, S, units=3, activation="softmax"):
    return S([K.Input(shape=(7, 4)), K.LSTM(6, return_sequences=True), K.GRU(5), K.Dense(units, activation=activation)])


x = rng.normal(size=(40, 7, 4)).astype("float32")
labels = rng.integers(0, 3, size=40)
CASES = {
    # name: (builder, loss, metrics, targets)
    "sparse-ce-softmax": (seq_classifier, "sparse_categorical_crossentropy", ["accuracy"], labels),
    "sparse-ce-labels-as-column": (seq_classifier, "sparse_categorical_crossentropy", ["accuracy"], labels[:, None]),
    "categorical-ce-softmax": (seq_classifier, "categorical_crossentropy", ["accuracy", "mse"], np.eye(3, dtype="float32")[labels]),
    "binary-ce-sigmoid": (
        lambda K, S: seq_classifier(K, S, 1, "sigmoid"), "binary_crossentropy", ["accuracy"],
        (labels > 0).astype("float32")[:, None],
    ),
    "binary-ce-multi-label": (
        lambda K, S: seq_classifier(K, S, 3, "sigmoid"), "binary_crossentropy", ["accuracy"],
        (rng.uniform(size=(40, 3)) > 0.5).astype("float32"),
    ),
    "mse-linear": (lambda K, S: seq_classifier(K, S, 2, None), "mse", ["mae"], rng.normal(size=(40, 2)).astype("float32")),
    "mae-linear": (lambda K, S: seq_classifier(K, S, 2, None), "mae", ["mse"], rng.normal(size=(40, 2)).astype("float32")),
    "huber-linear": (lambda K, S: seq_classifier(K, S, 1, None), "huber", ["mae"], rng.normal(size=(40, 1)).astype("float32")),
    "sequence-output": (
        lambda K, S: S([K.Input(shape=(7, 4)), K.LSTM(5, return_sequences=True), K.TimeDistributed(K.Dense(3, activation="softmax"))]),
        "sparse_categorical_crossentropy", ["accuracy"], rng.integers(0, 3, size=(40, 7)),
    ),
    "regularized": (
        lambda K, S: S([
            K.Input(shape=(7, 4)),
            K.LSTM(6, kernel_regularizer="l2", recurrent_regularizer="l1", bias_regularizer="l1"),
            K.Dense(3, activation="softmax", kernel_regularizer="l2", activity_regularizer="l1"),
        ]),
        "sparse_categorical_crossentropy", ["accuracy"], labels,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_evaluate_matches_keras(name):
    build, loss, metrics, y = CASES[name]
    theirs, ours = pair(build)
    theirs.compile(optimizer="sgd", loss=loss, metrics=metrics)
    ours.compile(optimizer="sgd", loss=loss, metrics=metrics)
    expected = theirs.evaluate(x, y, batch_size=16, verbose=0)
    got = ours.evaluate(x, y, batch_size=16, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # one weight per sample, or per sample and step for sequence targets (Keras takes no (B,) there)
    weights = rng.uniform(0, 2, size=np.shape(y)[:2] if name == "sequence-output" else 40).astype("float32")
    expected = theirs.evaluate(x, y, batch_size=16, sample_weight=weights, verbose=0)
    got = ours.evaluate(x, y, batch_size=16, sample_weight=weights, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def keras_optimizer(kind):
    return {
        "sgd": lambda: keras.optimizers.SGD(learning_rate=0.1),
        "sgd-nesterov": lambda: keras.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
        "adam": lambda: keras.optimizers.Adam(learning_rate=0.01),
        "rmsprop-clipnorm": lambda: keras.optimizers.RMSprop(learning_rate=0.01, clipnorm=0.5),
        "adagrad-clipvalue": lambda: keras.optimizers.Adagrad(learning_rate=0.1, clipvalue=0.01),
    }[kind]()


def our_optimizer(kind):
    return {
        "sgd": lambda: optimizers.SGD(learning_rate=0.1),
        "sgd-nesterov": lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
        "adam": lambda: optimizers.Adam(learning_rate=0.01),
        "rmsprop-clipnorm": lambda: optimizers.RMSprop(learning_rate=0.01, clipnorm=0.5),
        "adagrad-clipvalue": lambda: optimizers.Adagrad(learning_rate=0.1, clipvalue=0.01),
    }[kind]()


@pytest.mark.parametrize("name", ["sparse-ce-softmax", "binary-ce-sigmoid", "mse-linear", "sequence-output", "regularized"])
def test_one_full_batch_sgd_step_matches_keras(name):
    build, loss, metrics, y = CASES[name]
    theirs, ours = pair(build)
    theirs.compile(optimizer=keras_optimizer("sgd"), loss=loss, metrics=metrics)
    ours.compile(optimizer=our_optimizer("sgd"), loss=loss, metrics=metrics)
    their_history = theirs.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    our_history = ours.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(our_history.history["loss"], their_history.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), atol=1e-4, rtol=0)
    for got, expected in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["sgd-nesterov", "adam", "rmsprop-clipnorm", "adagrad-clipvalue"])
def test_three_full_batch_steps_of_each_optimizer_match_keras(kind):
    build, loss, metrics, y = CASES["sparse-ce-softmax"]
    theirs, ours = pair(build)
    theirs.compile(optimizer=keras_optimizer(kind), loss=loss, metrics=metrics)
    ours.compile(optimizer=our_optimizer(kind), loss=loss, metrics=metrics)
    their_history = theirs.fit(x, y, batch_size=len(x), epochs=3, shuffle=False, verbose=0)
    our_history = ours.fit(x, y, batch_size=len(x), epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(our_history.history["loss"], their_history.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(our_history.history["accuracy"], their_history.history["accuracy"])
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), atol=1e-4, rtol=0)


def test_minibatch_epoch_figures_match_keras():
    """Unshuffled batches of 16 (the last one 8): Keras's running loss is the batch-size-weighted
    mean of the batch losses, and accuracy the mean over samples; ours must agree."""
    build, loss, metrics, y = CASES["categorical-ce-softmax"]
    theirs, ours = pair(build)
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss=loss, metrics=metrics)
    ours.compile(optimizer=optimizers.SGD(learning_rate=0.05), loss=loss, metrics=metrics)
    val = (x[:10], y[:10])
    their_history = theirs.fit(x, y, batch_size=16, epochs=2, shuffle=False, validation_data=val, verbose=0)
    our_history = ours.fit(x, y, batch_size=16, epochs=2, shuffle=False, validation_data=val, verbose=0)
    assert sorted(our_history.history) == sorted(their_history.history)
    for key, expected in their_history.history.items():
        np.testing.assert_allclose(our_history.history[key], expected, rtol=1e-5, atol=1e-6, err_msg=key)


def test_class_weight_matches_keras():
    build, loss, metrics, y = CASES["sparse-ce-softmax"]
    theirs, ours = pair(build)
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss=loss, metrics=metrics)
    ours.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss=loss, metrics=metrics)
    class_weight = {0: 0.5, 1: 2.0, 2: 1.0}
    their_history = theirs.fit(x, y, batch_size=len(x), shuffle=False, class_weight=class_weight, verbose=0)
    our_history = ours.fit(x, y, batch_size=len(x), shuffle=False, class_weight=class_weight, verbose=0)
    np.testing.assert_allclose(our_history.history["loss"], their_history.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), atol=1e-4, rtol=0)


def test_keras2_decay_matches_the_formula_over_steps():
    """Keras 3 no longer has `decay`; Keras 2's lr / (1 + decay * iterations) is checked by running
    plain SGD steps in Keras with the learning rate that formula gives at each step."""
    build, loss, metrics, y = CASES["mse-linear"]
    theirs, ours = pair(build)
    ours.compile(optimizer=optimizers.SGD(lr=0.1, decay=0.5), loss=loss)
    ours.fit(x, y, batch_size=len(x), epochs=3, shuffle=False, verbose=0)
    sgd = keras.optimizers.SGD(learning_rate=0.1)
    theirs.compile(optimizer=sgd, loss=loss)
    for step in range(3):
        sgd.learning_rate.assign(0.1 / (1 + 0.5 * step))
        theirs.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), atol=1e-4, rtol=0)


def test_saturated_softmax_gives_keras_clipped_loss_and_finite_gradients():
    """Logits of ±60 saturate float32's softmax to exact 0 and 1; Keras clips the probability of
    the true class to 1e-7, so the loss is -log(1e-7) ≈ 16.118. The logits path gives the same
    value, and training from there stays finite."""
    build = lambda K, S: S([K.Input(shape=(2,)), K.Dense(2, activation="softmax")])
    theirs, ours = pair(build)
    weights = [np.array([[60.0, -60.0], [0.0, 0.0]], "float32"), np.zeros(2, "float32")]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    inputs, wrong = np.array([[1.0, 0.0]], "float32"), np.array([1])
    theirs.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    ours.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert ours.evaluate(inputs, wrong, verbose=0) == pytest.approx(theirs.evaluate(inputs, wrong, verbose=0), rel=1e-6)
    assert ours.evaluate(inputs, wrong, verbose=0) == pytest.approx(-np.log(1e-7), rel=1e-6)
    ours.fit(inputs, wrong, epochs=2, verbose=0)
    assert all(np.isfinite(w).all() for w in ours.get_weights())


def padded_tokens():
    tokens = rng.integers(1, 9, size=(24, 7))
    for row, length in enumerate(rng.integers(2, 8, size=24)):
        tokens[row, length:] = 0  # right padding, masked by mask_zero
    return tokens


MASKED = {
    "embedding-mask-zero": lambda K, S: S([
        K.Input(shape=(7,), dtype="int32"),
        K.Embedding(9, 4, mask_zero=True),
        K.LSTM(5, return_sequences=True),
        K.TimeDistributed(K.Dense(3, activation="softmax")),
    ]),
    "masking-layer-dense-head": lambda K, S: S([
        K.Input(shape=(7, 1)),
        K.Masking(0.0),
        K.GRU(4, return_sequences=True),
        K.Dense(3, activation="softmax"),
    ]),
}


@pytest.mark.parametrize("name", sorted(MASKED))
def test_masked_sequence_outputs_leave_masked_steps_out_of_loss_and_metrics_as_keras_does(name):
    tokens = padded_tokens()
    inputs = tokens if name.startswith("embedding") else tokens[:, :, None].astype("float32")
    targets = rng.integers(0, 3, size=(24, 7))
    theirs, ours = pair(MASKED[name])
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ours.compile(optimizer=optimizers.SGD(learning_rate=0.5), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    np.testing.assert_allclose(ours.evaluate(inputs, targets, batch_size=8, verbose=0),
                               theirs.evaluate(inputs, targets, batch_size=8, verbose=0), rtol=1e-5)
    weights = rng.uniform(0, 2, size=(24, 7)).astype("float32")
    np.testing.assert_allclose(ours.evaluate(inputs, targets, sample_weight=weights, verbose=0),
                               theirs.evaluate(inputs, targets, sample_weight=weights, verbose=0), rtol=1e-5)
    their_history = theirs.fit(inputs, targets, batch_size=24, epochs=2, shuffle=False, verbose=0)
    our_history = ours.fit(inputs, targets, batch_size=24, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(our_history.history["loss"], their_history.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(our_history.history["accuracy"], their_history.history["accuracy"], rtol=1e-6)
    np.testing.assert_allclose(ours.predict(inputs), theirs.predict(inputs, verbose=0), atol=1e-4, rtol=0)


def test_keras_3s_compile_settings_of_how_the_step_runs_are_taken_and_change_no_figure():
    """A Keras 3 program's compile(..., run_eagerly=, steps_per_execution=, jit_compile=) runs as
    written (Keras 3 itself takes them: the oracle for the names), with the same figures."""
    import inspect

    from lstmkit.utils import set_random_seed

    taken = inspect.signature(keras.Model.compile).parameters
    settings = {"run_eagerly": True, "steps_per_execution": 4, "jit_compile": True}
    assert set(settings) <= set(taken)
    x = np.random.default_rng(0).normal(size=(32, 5, 3)).astype("float32")
    y = np.arange(32) % 3
    histories = []
    for extra in ({}, settings, {"jit_compile": False}):
        set_random_seed(0)
        model = Sequential([L.Input(shape=(5, 3)), L.LSTM(4), L.Dense(3, activation="softmax")])
        model.compile(optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"], **extra)
        histories.append(model.fit(x, y, batch_size=8, epochs=2, verbose=0).history)
    assert histories[0] == histories[1] == histories[2]
    model = Sequential([L.Input(shape=(5, 3)), L.LSTM(4), L.Dense(3)])
    for bad, pattern in (({"steps_per_execution": 0}, "steps_per_execution=0"),
                         ({"jit_compile": "xla"}, "jit_compile='xla'"),
                         ({"run_eagerly": "yes"}, "run_eagerly='yes'")):
        with pytest.raises(ValueError, match=pattern):
            model.compile("adam", "mse", **bad)
