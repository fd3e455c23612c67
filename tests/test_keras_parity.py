"""Models built in Keras 3 and in lstmkit from the same code; Keras's weights moved over with
set_weights must give Keras's predictions. Keras runs on its torch backend as the oracle."""

import keras
import numpy as np
import pytest

import lstmkit.layers as L
from lstmkit.models import Sequential

ATOL = 1e-5
rng = np.random.default_rng(1234)


def randomize(keras_model):
    """Moves every Keras weight, biases included, away from its initial value."""
    keras_model.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in keras_model.get_weights()])


def both(build):
    """The same builder run against Keras's and lstmkit's namespaces."""
    return build(keras.layers, keras.Sequential), build(L, Sequential)


def check(build, x):
    theirs, ours = both(build)
    randomize(theirs)
    ours.set_weights(theirs.get_weights())
    expected = theirs.predict(x, verbose=0)
    got = ours.predict(x)
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)
    assert ours.count_params() == theirs.count_params()
    for our_layer, their_layer, shape in zip(ours.layers, theirs.layers, ours.layer_output_shapes()):
        assert our_layer.count_params() == their_layer.count_params(), our_layer.name
        assert shape == tuple(their_layer.output.shape), our_layer.name
    return ours, theirs


def seq_input(B=6, T=9, D=4):
    return rng.normal(size=(B, T, D)).astype("float32")


MODELS = {
    "seed-mnist-shape": lambda K, S: S([
        K.Input(shape=(9, 4)),
        K.LSTM(12, return_sequences=True),
        K.Dropout(0.2),
        K.LSTM(12),
        K.Dense(8, activation="relu"),
        K.Dropout(0.2),
        K.Dense(5, activation="softmax"),
    ]),
    "gru-reset-after": lambda K, S: S([K.Input(shape=(9, 4)), K.GRU(7, return_sequences=True), K.GRU(5)]),
    "gru-reset-before": lambda K, S: S([K.Input(shape=(9, 4)), K.GRU(7, reset_after=False, return_sequences=True), K.Dense(3)]),
    "simple-rnn-relu": lambda K, S: S([K.Input(shape=(9, 4)), K.SimpleRNN(6, activation="relu"), K.Dense(2)]),
    "go-backwards": lambda K, S: S([
        K.Input(shape=(9, 4)),
        K.LSTM(5, go_backwards=True, return_sequences=True),
        K.GRU(4, go_backwards=True, return_sequences=True),
        K.SimpleRNN(3, go_backwards=True),
    ]),
    "no-bias": lambda K, S: S([
        K.Input(shape=(9, 4)),
        K.LSTM(5, use_bias=False, return_sequences=True),
        K.GRU(4, use_bias=False, return_sequences=True),
        K.GRU(4, use_bias=False, reset_after=False, return_sequences=True),
        K.SimpleRNN(3, use_bias=False),
        K.Dense(2, use_bias=False),
    ]),
    "time-distributed": lambda K, S: S([
        K.Input(shape=(9, 4)),
        K.Bidirectional(K.GRU(5, return_sequences=True)),
        K.TimeDistributed(K.Dense(3, activation="tanh")),
    ]),
    "dense-on-sequences": lambda K, S: S([K.Input(shape=(9, 4)), K.LSTM(5, return_sequences=True), K.Dense(3)]),
}

ACTIVATIONS = ["relu", "elu", "selu", "softplus", "softsign", "swish", "silu", "gelu", "linear",
               "exponential", "hard_sigmoid", "sigmoid", "tanh", "relu6", "leaky_relu", "mish", "hard_silu"]


@pytest.mark.parametrize("name", MODELS)
def test_models_predict_like_keras(name):
    check(MODELS[name], seq_input())


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("layer", ["LSTM", "GRU", "SimpleRNN"])
def test_bidirectional_merge_modes(merge_mode, layer):
    def build(K, S):
        return S([
            K.Input(shape=(9, 4)),
            K.Bidirectional(getattr(K, layer)(5, return_sequences=True), merge_mode=merge_mode),
            K.Bidirectional(getattr(K, layer)(3), merge_mode=merge_mode),
        ])

    check(build, seq_input())


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activations_like_keras(activation):
    def build(K, S):
        return S([
            K.Input(shape=(9, 4)),
            K.LSTM(5, activation=activation, recurrent_activation="hard_sigmoid", return_sequences=True),
            K.GRU(4, activation=activation, return_sequences=True),
            K.SimpleRNN(3, activation=activation),
            K.Dense(2, activation=activation),
        ])

    check(build, seq_input() * 0.5)


def padded_ids(pattern, B=6, T=9, vocab=20):
    ids = rng.integers(1, vocab, size=(B, T))
    lengths = rng.integers(1, T + 1, size=B)
    for b, n in enumerate(lengths):
        if pattern == "right":
            ids[b, n:] = 0
        elif pattern == "left":
            ids[b, : T - n] = 0
        else:  # holes: random masked steps anywhere, first and last included sometimes
            ids[b, rng.random(T) < 0.4] = 0
    ids[0, :] = 0  # one sample entirely masked
    return ids


@pytest.mark.parametrize("pattern", ["right", "left", "holes"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_embedding_mask_zero_like_keras(pattern, kind):
    def build(K, S):
        return S([
            K.Input(shape=(9,), dtype="int32"),
            K.Embedding(20, 6, mask_zero=True),
            getattr(K, kind)(5, return_sequences=True),
            getattr(K, kind)(4, go_backwards=True, return_sequences=True),
            getattr(K, kind)(3),
        ])

    check(build, padded_ids(pattern))


@pytest.mark.parametrize("pattern", ["right", "left", "holes"])
def test_masking_layer_and_bidirectional_like_keras(pattern):
    ids = padded_ids(pattern)
    x = seq_input()
    x[ids == 0] = -1.0  # steps whose features all equal the mask value

    def build(K, S):
        return S([
            K.Input(shape=(9, 4)),
            K.Masking(mask_value=-1.0),
            K.Bidirectional(K.LSTM(5, return_sequences=True)),
            K.TimeDistributed(K.Dense(4)),
            K.Bidirectional(K.GRU(3), merge_mode="sum"),
        ])

    check(build, x)


def test_cudnnlstm_keeps_keras2_layout_and_matches_keras3_lstm():
    """Keras 2's CuDNNLSTM stored a double bias; its sum is a Keras 3 LSTM's bias."""
    x = seq_input()
    theirs = keras.Sequential([keras.Input(shape=(9, 4)), keras.layers.LSTM(6, return_sequences=True), keras.layers.LSTM(5)])
    randomize(theirs)
    ours = Sequential([L.CuDNNLSTM(6, input_shape=(9, 4), return_sequences=True), L.CuDNNLSTM(5)])
    weights = theirs.get_weights()
    split = []
    for index, w in enumerate(weights):
        if index % 3 == 2:  # a Keras 3 bias b -> cuDNN's [b_input, b_recurrent] with the same sum
            half = rng.uniform(-0.5, 0.5, w.shape).astype("float32")
            split.append(np.concatenate([w - half, half]))
        else:
            split.append(w)
    ours.set_weights(split)
    assert [w.shape for w in ours.get_weights()] == [(4, 24), (6, 24), (48,), (6, 20), (5, 20), (40,)]
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), atol=ATOL, rtol=0)
    ours.set_weights(weights)  # a Keras 3 LSTM's (4u,) bias is taken as the input half
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), atol=ATOL, rtol=0)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_return_state_and_initial_state_like_keras(kind):
    x = seq_input()
    theirs = getattr(keras.layers, kind)(5, return_sequences=True, return_state=True)
    ours = getattr(L, kind)(5, return_sequences=True, return_state=True)
    n_states = 2 if kind == "LSTM" else 1
    initial = [rng.normal(size=(6, 5)).astype("float32") for _ in range(n_states)]
    expected = theirs(x, initial_state=initial)
    ours.ensure_built(x.shape)
    theirs.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in theirs.get_weights()])
    expected = theirs(x, initial_state=initial)
    ours.set_weights(theirs.get_weights())
    got = ours(x, initial_state=initial)
    assert len(got) == len(expected) == 1 + n_states
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.detach().numpy(), keras.ops.convert_to_numpy(e), atol=ATOL, rtol=0)


def test_bidirectional_return_state_like_keras():
    x = seq_input()
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(4, return_state=True))
    ours = L.Bidirectional(L.LSTM(4, return_state=True))
    theirs(x)
    ours.ensure_built(x.shape)
    theirs.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    expected, got = theirs(x), ours(x)
    assert len(got) == len(expected) == 5
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.detach().numpy(), keras.ops.convert_to_numpy(e), atol=ATOL, rtol=0)


def test_stateful_carries_state_like_keras():
    first, second = seq_input(B=4), seq_input(B=4)

    def build(K, S):
        return S([K.Input(shape=(9, 4), batch_size=4), K.LSTM(5, stateful=True, return_sequences=True), K.GRU(3, stateful=True)])

    theirs, ours = both(build)
    randomize(theirs)
    ours.set_weights(theirs.get_weights())
    for batch in (first, second):
        np.testing.assert_allclose(ours.predict(batch), theirs.predict(batch, verbose=0), atol=ATOL, rtol=0)
    for layer in theirs.layers:
        layer.reset_states()
    ours.reset_states()
    np.testing.assert_allclose(ours.predict(second), theirs.predict(second, verbose=0), atol=ATOL, rtol=0)


def test_weight_shapes_and_order_like_keras():
    def build(K, S):
        return S([
            K.Input(shape=(9,), dtype="int32"),
            K.Embedding(20, 6),
            K.Bidirectional(K.LSTM(5, return_sequences=True)),
            K.GRU(4, return_sequences=True),
            K.GRU(4, reset_after=False, return_sequences=True),
            K.TimeDistributed(K.Dense(3)),
            K.SimpleRNN(2),
        ])

    theirs, ours = both(build)
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
