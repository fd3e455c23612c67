"""Functional graphs built with the same code in Keras 3 (torch backend, the oracle) and in
lstmkit: with Keras's weights moved over, predictions must agree to 1e-5, one full-batch SGD
step to 1e-4, and the parameter counts (per layer, in Keras's layer order) must be equal."""

import io
import contextlib

import keras
import numpy as np
import pytest

import lstmkit
import lstmkit.layers as L
from lstmkit import optimizers
from lstmkit.models import Model

rng = np.random.default_rng(2024)
B = 12


class Ours:
    layers, Model, Input = L, Model, lstmkit.Input


class Theirs:
    layers, Model, Input = keras.layers, keras.Model, keras.Input


def seq2seq_lstm(K):
    enc_in, dec_in = K.Input(shape=(None, 5)), K.Input(shape=(None, 6))
    _, h, c = K.layers.LSTM(8, return_state=True)(enc_in)
    dec_out, _, _ = K.layers.LSTM(8, return_sequences=True, return_state=True)(dec_in, initial_state=[h, c])
    return K.Model([enc_in, dec_in], K.layers.Dense(6, activation="softmax")(dec_out))


def seq2seq_gru(K):
    enc_in, dec_in = K.Input(shape=(None, 5)), K.Input(shape=(None, 6))
    _, h = K.layers.GRU(7, return_state=True)(enc_in)
    dec_out = K.layers.GRU(7, return_sequences=True)(dec_in, initial_state=[h])
    return K.Model([enc_in, dec_in], K.layers.TimeDistributed(K.layers.Dense(6, activation="softmax"))(dec_out))


def two_inputs_concatenated(K):
    seq, side = K.Input(shape=(7, 4)), K.Input(shape=(3,))
    joined = K.layers.concatenate([K.layers.LSTM(6)(seq), K.layers.Dense(5, activation="relu")(side)])
    return K.Model([seq, side], K.layers.Dense(3, activation="softmax")(joined))


def two_outputs(K):
    seq = K.Input(shape=(7, 4))
    h = K.layers.LSTM(6)(seq)
    return K.Model(seq, [K.layers.Dense(3, activation="softmax", name="cls")(h), K.layers.Dense(1, name="reg")(h)])


def siamese(K):
    left, right = K.Input(shape=(9,), dtype="int32"), K.Input(shape=(9,), dtype="int32")
    embed, encode = K.layers.Embedding(20, 4, mask_zero=True), K.layers.LSTM(5)
    a, b = encode(embed(left)), encode(embed(right))
    return K.Model([left, right], K.layers.Dense(1, activation="sigmoid")(K.layers.concatenate([a, b])))


def time_distributed_submodel(K):
    step_in = K.Input(shape=(4,))
    step = K.Model(step_in, K.layers.Dense(3, activation="tanh")(K.layers.Dense(5, activation="relu")(step_in)))
    seq = K.Input(shape=(7, 4))
    h = K.layers.LSTM(6)(K.layers.TimeDistributed(step)(seq))
    return K.Model(seq, K.layers.Dense(2)(h))


def bidirectional_states(K):
    seq = K.Input(shape=(7, 4))
    out, fh, fc, bh, bc = K.layers.Bidirectional(K.layers.LSTM(5, return_state=True))(seq)
    joined = K.layers.concatenate([out, fh, bh, K.layers.add([fc, bc])])
    return K.Model(seq, K.layers.Dense(3, activation="softmax")(joined))


def glue(K):
    """The merge and reshaping layers together: dot attention, elementwise merges, reshapes."""
    seq = K.Input(shape=(7, 4))
    states = K.layers.LSTM(6, return_sequences=True)(seq)  # (B, 7, 6)
    scores = K.layers.Activation("softmax")(K.layers.Dot(axes=2, normalize=True)([states, states]))  # (B, 7, 7)
    context = K.layers.dot([scores, states], axes=(2, 1))  # (B, 7, 6)
    summary = K.layers.LSTM(6)(context)
    last = K.layers.Lambda(lambda t: t[:, -1])(states)
    mixed = [K.layers.Subtract()([summary, last]), K.layers.multiply([summary, last]),
             K.layers.Average()([summary, last]), K.layers.Maximum()([summary, last])]
    merged = K.layers.add(mixed)  # (B, 6)
    repeated = K.layers.RepeatVector(3)(merged)  # (B, 3, 6)
    turned = K.layers.Reshape((2, 9))(K.layers.Permute((2, 1))(repeated))  # (B, 2, 9)
    return K.Model(seq, K.layers.Dense(2)(K.layers.Flatten()(turned)))


def data(name):
    """Inputs and targets for each graph."""
    seq = rng.normal(size=(B, 7, 4)).astype("float32")
    if name.startswith("seq2seq"):
        x = [rng.normal(size=(B, 5, 5)).astype("float32"), rng.normal(size=(B, 6, 6)).astype("float32")]
        return x, rng.integers(0, 6, size=(B, 6))
    if name == "two_inputs_concatenated":
        return [seq, rng.normal(size=(B, 3)).astype("float32")], rng.integers(0, 3, size=B)
    if name == "two_outputs":
        return seq, [rng.integers(0, 3, size=B), rng.normal(size=(B, 1)).astype("float32")]
    if name == "siamese":
        ids = rng.integers(1, 20, size=(2, B, 9))
        ids[:, :, 6:] = 0  # padding, masked by mask_zero
        ids[1, :4, 3:] = 0
        return [ids[0], ids[1]], (rng.uniform(size=(B, 1)) > 0.5).astype("float32")
    if name == "bidirectional_states":
        return seq, rng.integers(0, 3, size=B)
    return seq, rng.normal(size=(B, 2)).astype("float32")


LOSSES = {
    "seq2seq_lstm": "sparse_categorical_crossentropy",
    "seq2seq_gru": "sparse_categorical_crossentropy",
    "two_inputs_concatenated": "sparse_categorical_crossentropy",
    "two_outputs": ["sparse_categorical_crossentropy", "mse"],
    "siamese": "binary_crossentropy",
    "time_distributed_submodel": "mse",
    "bidirectional_states": "sparse_categorical_crossentropy",
    "glue": "mse",
}
BUILDERS = {f.__name__: f for f in (seq2seq_lstm, seq2seq_gru, two_inputs_concatenated, two_outputs, siamese,
                                    time_distributed_submodel, bidirectional_states, glue)}


def pair(name):
    theirs, ours = BUILDERS[name](Theirs), BUILDERS[name](Ours)
    theirs.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    return theirs, ours


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_predictions_and_counts_match_keras(name):
    theirs, ours = pair(name)
    x, _ = data(name)
    expected, got = theirs.predict(x, verbose=0), ours.predict(x)
    for e, g in zip(expected if isinstance(expected, list) else [expected], got if isinstance(got, list) else [got]):
        np.testing.assert_allclose(g, e, atol=1e-5, rtol=0)
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in theirs.layers]
    assert [layer.count_params() for layer in ours.layers] == [layer.count_params() for layer in theirs.layers]
    assert ours.count_params() == theirs.count_params()
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        ours.summary()
    assert f"Total params: {theirs.count_params():,} " in text.getvalue()
    assert [tuple(t.shape) for t in ours.outputs] == [tuple(t.shape) for t in theirs.outputs]


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_one_full_batch_sgd_step_matches_keras(name):
    theirs, ours = pair(name)
    x, y = data(name)
    before = ours.get_weights()
    weights = [1.0, 0.5] if name == "two_outputs" else None
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss=LOSSES[name], loss_weights=weights)
    ours.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss=LOSSES[name], loss_weights=weights)
    their_history = theirs.fit(x, y, batch_size=B, epochs=1, shuffle=False, verbose=0)
    our_history = ours.fit(x, y, batch_size=B, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(our_history.history["loss"], their_history.history["loss"], rtol=1e-5)
    moved = max(float(np.abs(a - b).max()) for a, b in zip(ours.get_weights(), before))
    assert moved > 1e-3, "the step must move the weights well beyond the tolerance"
    for got, expected in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_two_outputs_by_name_with_metrics_match_keras():
    theirs, ours = pair("two_outputs")
    x, (labels, values) = data("two_outputs")
    y = {"cls": labels, "reg": values}
    settings = dict(loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"}, loss_weights={"cls": 0.3, "reg": 2.0},
                    metrics={"cls": ["accuracy"], "reg": ["mae"]})
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), **settings)
    ours.compile(optimizer=optimizers.SGD(learning_rate=0.05), **settings)
    their_history = theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    our_history = ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert sorted(our_history.history) == sorted(their_history.history)
    for key, expected in their_history.history.items():
        np.testing.assert_allclose(our_history.history[key], expected, rtol=1e-5, atol=1e-6, err_msg=key)
    for got, expected in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_the_inference_models_of_seq2seq_share_the_trained_layers():
    """Keras's seq2seq set-up: an encoder model from inner tensors, a decoder model with new state
    inputs; stepping the decoder one step at a time gives the training model's outputs."""
    enc_in, dec_in = lstmkit.Input(shape=(None, 5)), lstmkit.Input(shape=(None, 6))
    _, h, c = L.LSTM(8, return_state=True)(enc_in)
    decoder, dense = L.LSTM(8, return_sequences=True, return_state=True), L.Dense(6, activation="softmax")
    out, _, _ = decoder(dec_in, initial_state=[h, c])
    model = Model([enc_in, dec_in], dense(out))
    encoder = Model(enc_in, [h, c])
    h_in, c_in = lstmkit.Input(shape=(8,)), lstmkit.Input(shape=(8,))
    step_out, h_out, c_out = decoder(dec_in, initial_state=[h_in, c_in])
    step = Model([dec_in, h_in, c_in], [dense(step_out), h_out, c_out])
    assert encoder.count_params() + step.count_params() - model.count_params() == 0
    x, _ = data("seq2seq_lstm")
    whole = model.predict(x)
    state = encoder.predict(x[0])
    for t in range(x[1].shape[1]):
        probabilities, *state = step.predict([x[1][:, t : t + 1], *state])
        np.testing.assert_allclose(probabilities[:, 0], whole[:, t], atol=1e-6)
