"""The convolution, pooling, normalisation, noise, padding and ConvLSTM layers against Keras 3
(torch backend) as the oracle: the same model built in both, Keras's randomised weights moved over
with set_weights, predictions within 1e-5; parameter counts and output shapes equal."""

import keras
import numpy as np
import pytest
import torch

import lstmkit.layers as L
from lstmkit.models import Sequential

ATOL = 1e-5
rng = np.random.default_rng(7)


def randomize(keras_model):
    keras_model.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in keras_model.get_weights()])


def compare(build, x, randomize_weights=True):
    theirs, ours = build(keras.layers, keras.Sequential), build(L, Sequential)
    if randomize_weights:
        randomize(theirs)
    ours.set_weights(theirs.get_weights())
    expected = theirs.predict(x, verbose=0)
    got = ours.predict(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)
    assert ours.count_params() == theirs.count_params()
    for our_layer, their_layer, shape in zip(ours.layers, theirs.layers, ours.layer_output_shapes()):
        assert our_layer.count_params() == their_layer.count_params(), our_layer.name
        assert shape == tuple(their_layer.output.shape), our_layer.name
    return ours, theirs


def seq(B=4, T=11, D=3):
    return rng.normal(size=(B, T, D)).astype("float32")


def images(B=3, H=9, W=8, C=3):
    return rng.normal(size=(B, H, W, C)).astype("float32")


MODELS_1D = {
    "conv1d-valid": lambda K, S: S([K.Input((11, 3)), K.Conv1D(5, 3, activation="relu")]),
    "conv1d-same-stride": lambda K, S: S([K.Input((11, 3)), K.Conv1D(4, 4, strides=2, padding="same")]),
    "conv1d-causal-dilated": lambda K, S: S([K.Input((11, 3)), K.Conv1D(4, 3, padding="causal", dilation_rate=2)]),
    "conv1d-groups-nobias": lambda K, S: S([K.Input((11, 3)), K.Conv1D(6, 2, groups=3, use_bias=False)]),
    "conv1d-pool-lstm": lambda K, S: S([K.Input((11, 3)), K.Conv1D(6, 3, padding="same"), K.MaxPooling1D(2),
                                       K.LSTM(5)]),
    "max-pool-same": lambda K, S: S([K.Input((11, 3)), K.MaxPooling1D(3, strides=2, padding="same")]),
    "avg-pool-valid": lambda K, S: S([K.Input((11, 3)), K.AveragePooling1D(3, strides=2)]),
    "avg-pool-same": lambda K, S: S([K.Input((11, 3)), K.AveragePooling1D(4, strides=3, padding="same")]),
    "global-max-1d": lambda K, S: S([K.Input((11, 3)), K.GlobalMaxPooling1D()]),
    "global-avg-1d-keepdims": lambda K, S: S([K.Input((11, 3)), K.GlobalAveragePooling1D(keepdims=True)]),
    "batch-norm-seq": lambda K, S: S([K.Input((11, 3)), K.BatchNormalization(momentum=0.9, epsilon=1e-2), K.GRU(4)]),
    "layer-norm": lambda K, S: S([K.Input((11, 3)), K.Dense(6), K.LayerNormalization(epsilon=1e-4)]),
    "layer-norm-rms": lambda K, S: S([K.Input((11, 3)), K.LayerNormalization(rms_scaling=True)]),
    "noise-and-spatial-dropout": lambda K, S: S([K.Input((11, 3)), K.GaussianNoise(0.3), K.SpatialDropout1D(0.4),
                                                K.GaussianDropout(0.2), K.Dense(2)]),
    "zero-pad-up-sample-1d": lambda K, S: S([K.Input((11, 3)), K.ZeroPadding1D((1, 2)), K.UpSampling1D(3)]),
}

MODELS_2D = {
    "conv2d-same": lambda K, S: S([K.Input((9, 8, 3)), K.Conv2D(4, (3, 2), padding="same", activation="tanh")]),
    "conv2d-strides-valid": lambda K, S: S([K.Input((9, 8, 3)), K.Conv2D(5, 3, strides=(2, 3))]),
    "conv2d-same-even-kernel-stride": lambda K, S: S([K.Input((9, 8, 3)), K.Conv2D(2, 4, strides=2, padding="same")]),
    "conv2d-dilated": lambda K, S: S([K.Input((9, 8, 3)), K.Conv2D(2, 3, dilation_rate=(2, 1))]),
    "conv2d-channels-first": lambda K, S: S([K.Input((3, 9, 8)), K.Conv2D(4, 3, data_format="channels_first"),
                                            K.MaxPooling2D(data_format="channels_first")]),
    "pools-2d": lambda K, S: S([K.Input((9, 8, 3)), K.MaxPooling2D((2, 3), padding="same"),
                               K.AveragePooling2D(2, strides=1, padding="same")]),
    "global-2d": lambda K, S: S([K.Input((9, 8, 3)), K.Conv2D(4, 2), K.GlobalAveragePooling2D()]),
    "global-max-2d": lambda K, S: S([K.Input((9, 8, 3)), K.GlobalMaxPooling2D(keepdims=True)]),
    "batch-norm-images": lambda K, S: S([K.Input((9, 8, 3)), K.Conv2D(4, 3), K.BatchNormalization(center=False),
                                        K.Flatten(), K.Dense(2)]),
    "batch-norm-axis1": lambda K, S: S([K.Input((9, 8, 3)), K.BatchNormalization(axis=1)]),
    "zero-pad-2d": lambda K, S: S([K.Input((9, 8, 3)), K.ZeroPadding2D(((1, 0), (2, 3)))]),
    "up-sample-2d": lambda K, S: S([K.Input((9, 8, 3)), K.UpSampling2D((2, 3))]),
    "up-sample-2d-bilinear": lambda K, S: S([K.Input((9, 8, 3)), K.UpSampling2D(2, interpolation="bilinear")]),
}


@pytest.mark.parametrize("name", sorted(MODELS_1D))
def test_sequence_layers_match_keras(name):
    compare(MODELS_1D[name], seq())


@pytest.mark.parametrize("name", sorted(MODELS_2D))
def test_image_layers_match_keras(name):
    compare(MODELS_2D[name], images(C=3) if "channels-first" not in name else images(H=3, W=9, C=8))


def test_conv3d_and_pooling3d_match_keras():
    x = rng.normal(size=(2, 5, 6, 7, 2)).astype("float32")
    compare(lambda K, S: S([K.Input((5, 6, 7, 2)), K.Conv3D(3, (2, 3, 2), padding="same"),
                            K.MaxPooling3D((1, 2, 2)), K.AveragePooling3D(2, padding="same")]), x)


CONV_LSTM = {
    "last": dict(filters=4, kernel_size=3),
    "sequences-same": dict(filters=3, kernel_size=(3, 2), padding="same", return_sequences=True),
    "strided-backwards": dict(filters=2, kernel_size=2, strides=2, go_backwards=True, return_sequences=True),
    "no-bias-relu": dict(filters=3, kernel_size=3, use_bias=False, activation="relu", recurrent_activation="hard_sigmoid"),
}


@pytest.mark.parametrize("name", sorted(CONV_LSTM))
def test_conv_lstm2d_matches_keras(name):
    x = rng.normal(size=(2, 4, 7, 6, 3)).astype("float32")
    ours, _ = compare(lambda K, S: S([K.Input((4, 7, 6, 3)), K.ConvLSTM2D(**CONV_LSTM[name])]), x)


def test_conv_lstm2d_states_masks_and_the_video_model_of_the_keras_example_match_keras():
    x = rng.normal(size=(2, 5, 8, 8, 1)).astype("float32")
    compare(lambda K, S: S([
        K.Input((None, 8, 8, 1)),
        K.ConvLSTM2D(4, (3, 3), padding="same", return_sequences=True),
        K.BatchNormalization(),
        K.ConvLSTM2D(3, (3, 3), padding="same", return_sequences=True),
        K.Conv3D(1, (3, 3, 3), activation="sigmoid", padding="same"),
    ]), x)
    # return_state and a mask (from Masking on the flattened frames) in the functional API
    def build(K):
        inputs = K.Input((5, 4, 4, 2))
        out, h, c = K.ConvLSTM2D(3, 2, return_state=True)(inputs)
        return keras.Model(inputs, [out, h, c]) if K is keras.layers else __import__("lstmkit").Model(inputs, [out, h, c])
    theirs, ours = build(keras.layers), build(L)
    randomize(theirs)
    ours.set_weights(theirs.get_weights())
    x = rng.normal(size=(3, 5, 4, 4, 2)).astype("float32")
    for a, b in zip(ours.predict(x), theirs.predict(x, verbose=0)):
        np.testing.assert_allclose(a, b, atol=ATOL, rtol=0)
    keras_layer, our_layer = theirs.layers[1], ours.layers[1]
    mask = np.array([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=bool)
    expected = keras.ops.convert_to_numpy(keras_layer(x, mask=mask)[0])
    got = our_layer(torch.as_tensor(x), mask=torch.as_tensor(mask))[0].detach().numpy()
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)


def test_cudnn_gru_is_keras_3_gru_with_a_flat_bias():
    x = seq()
    theirs = keras.Sequential([keras.Input((11, 3)), keras.layers.GRU(5, return_sequences=True)])
    randomize(theirs)
    ours = Sequential([L.CuDNNGRU(5, input_shape=(11, 3), return_sequences=True)])
    kernel, recurrent, bias = theirs.get_weights()
    ours.set_weights([kernel, recurrent, bias.reshape(-1)])  # Keras 2 CuDNNGRU's (6·units,) layout
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), atol=ATOL, rtol=0)
    assert [w.shape for w in ours.get_weights()] == [(3, 15), (5, 15), (30,)]
    assert ours.count_params() == theirs.count_params()
    ours.set_weights(theirs.get_weights())  # the Keras 3 form is taken too
    np.testing.assert_allclose(ours.get_weights()[2], bias.reshape(-1))


@pytest.mark.parametrize("axis", [-1, 1])
def test_batch_normalization_training_step_matches_keras(axis):
    """In training mode: the batch's statistics normalise, and the moving ones move as Keras's do
    (also with a mask of the steps), the features last or not."""
    x = seq(B=5) * 3 + 1
    mask = np.ones((5, 11), dtype=bool)
    mask[1, 6:] = False
    mask[3, 2:] = False
    for m in (None, mask):
        theirs = keras.layers.BatchNormalization(axis=axis, momentum=0.8)
        ours = L.BatchNormalization(axis=axis, momentum=0.8)
        theirs.build((None, 11, 3))
        randomize(keras.Sequential([keras.Input((11, 3)), theirs]))
        ours(torch.zeros(1, 11, 3), training=False)
        ours.set_weights(theirs.get_weights())
        kwargs = {} if m is None else {"mask": m}
        expected = keras.ops.convert_to_numpy(theirs(x, training=True, **kwargs))
        got = ours(torch.as_tensor(x), training=True, **({} if m is None else {"mask": torch.as_tensor(m)}))
        np.testing.assert_allclose(got.detach().numpy(), expected, atol=ATOL, rtol=0)
        for a, b in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_allclose(a, b, atol=ATOL, rtol=0)
        assert not np.allclose(ours.get_weights()[2], 0)


def test_global_average_pooling_1d_averages_unmasked_steps_as_keras():
    x = seq()
    mask = rng.uniform(size=(4, 11)) > 0.4
    mask[:, 0] = True
    expected = keras.ops.convert_to_numpy(keras.layers.GlobalAveragePooling1D()(x, mask=mask))
    got = L.GlobalAveragePooling1D()(torch.as_tensor(x), mask=torch.as_tensor(mask))
    np.testing.assert_allclose(got.numpy(), expected, atol=ATOL, rtol=0)


def test_batch_normalization_trains_its_scale_not_its_moving_statistics():
    model = Sequential([L.Conv1D(4, 3, input_shape=(11, 3)), L.BatchNormalization(), L.GlobalMaxPooling1D(), L.Dense(1)])
    model.compile("sgd", "mse")
    bn = model.layers[1]
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert id(bn.gamma) in trainable and id(bn.beta) in trainable
    assert all(id(t) not in trainable for t in (bn.moving_mean, bn.moving_variance))
    before = [w.copy() for w in bn.get_weights()]
    model.fit(seq(B=16), rng.normal(size=(16, 1)).astype("float32"), epochs=1, batch_size=8, verbose=0)
    after = bn.get_weights()
    assert all(not np.allclose(a, b) for a, b in zip(before, after))  # gamma, beta trained; statistics moved
    model.trainable = True
    assert not bn.moving_mean.requires_grad


@pytest.mark.parametrize("make, message", [
    (lambda: L.Conv1D(4, 3, padding="full"), "padding"),
    (lambda: L.Conv2D(4, (3, 3, 3)), "kernel_size"),
    (lambda: L.Conv2D(0, 3), "filters"),
    (lambda: L.Conv1D(4, 3, strides=2, dilation_rate=2), "dilation_rate"),
    (lambda: L.Conv2D(4, 3, padding="causal"), "padding"),
    (lambda: L.MaxPooling2D(pool_size=0), "pool_size"),
    (lambda: L.Conv2D(4, 3, data_format="channels_middle"), "data_format"),
    (lambda: L.BatchNormalization(momentum=1.5), "momentum"),
    (lambda: L.LayerNormalization(epsilon=-1), "epsilon"),
    (lambda: L.GaussianNoise(-0.1), "stddev"),
    (lambda: L.ZeroPadding2D(((1, 2), 3, 4)), "padding"),
    (lambda: L.UpSampling2D(interpolation="cubic"), "interpolation"),
    (lambda: L.ConvLSTM2D(4, 3, stateful=True), "stateful"),
])
def test_bad_layer_arguments_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("layer, shape, message", [
    (lambda: L.Conv1D(4, 3), (2, 5), "rank 3"),
    (lambda: L.Conv1D(4, 6), (2, 5, 3), "shorter than the window"),
    (lambda: L.MaxPooling1D(6), (2, 5, 3), "shorter than pool_size"),
    (lambda: L.Conv2D(4, 2, groups=2), (2, 5, 5, 3), "groups"),
    (lambda: L.ConvLSTM2D(2, 2), (2, 5, 5, 3), "rank 5"),
])
def test_bad_input_shapes_are_named(layer, shape, message):
    with pytest.raises(ValueError, match=message):
        layer()(torch.zeros(shape))


def test_activation_layers_match_keras():
    compare(lambda K, S: S([K.Input((11, 3)), K.Dense(6), K.ReLU(max_value=0.8, negative_slope=0.1, threshold=0.2),
                            K.Dense(5), K.LeakyReLU(negative_slope=0.2), K.ELU(alpha=0.7), K.PReLU(shared_axes=[1]),
                            K.Dense(4), K.Softmax()]), seq())


def test_tokenizer_matrices_match_keras_s_tokenizer():
    from keras.src.legacy.preprocessing.text import Tokenizer as KerasTokenizer

    from lstmkit.preprocessing.text import Tokenizer

    texts = ["the cat sat on the mat", "the dog ate the cat's dinner", "a mat, a hat", "dog dog dog"]
    for num_words in (None, 5):
        ours, theirs = Tokenizer(num_words=num_words), KerasTokenizer(num_words=num_words)
        ours.fit_on_texts(texts)
        theirs.fit_on_texts(texts)
        for mode in ("binary", "count", "freq", "tfidf"):
            np.testing.assert_allclose(ours.texts_to_matrix(texts + ["unseen words"], mode=mode),
                                       theirs.texts_to_matrix(texts + ["unseen words"], mode=mode), rtol=1e-12)


def test_rnn_of_keras_cells_is_the_fused_layer_and_matches_keras():
    compare(lambda K, S: S([K.Input((11, 3)), K.RNN(K.LSTMCell(5), return_sequences=True),
                            K.RNN(K.GRUCell(4), go_backwards=True, return_sequences=True), K.RNN(K.SimpleRNNCell(3))]),
            seq())
    assert type(L.RNN(L.LSTMCell(5))) is L.LSTM


def minimal_rnn_cell(base, matmul):
    """Keras's documentation's example of a cell of one's own."""

    class MinimalRNNCell(base):
        def __init__(self, units, **kwargs):
            self.units = units
            self.state_size = units
            super().__init__(**kwargs)

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                    name="recurrent_kernel")
            self.built = True

        def call(self, inputs, states):
            output = matmul(inputs, self.kernel) + matmul(states[0], self.recurrent_kernel)
            return output, [output]

    return MinimalRNNCell


def test_rnn_runs_a_cell_of_the_program_s_own_as_keras_does():
    import lstmkit.compat.backend as K

    theirs_cell, ours_cell = minimal_rnn_cell(keras.layers.Layer, keras.ops.matmul), minimal_rnn_cell(L.Layer, K.dot)
    x = seq(B=3, T=6, D=5)
    mask = np.ones((3, 6), dtype=bool)
    mask[1, 4:] = False
    for kwargs in ({}, {"return_sequences": True, "go_backwards": True}, {"return_state": True}):
        theirs = keras.layers.RNN(theirs_cell(4), **kwargs)
        ours = L.RNN(ours_cell(4), **kwargs)
        expected = theirs(x, mask=mask)
        ours(torch.as_tensor(x))
        ours.set_weights(theirs.get_weights())
        got = ours(torch.as_tensor(x), mask=torch.as_tensor(mask))
        if kwargs.get("return_state"):  # [output, state]; this cell's state is its output
            got, expected = got[0], expected[0]
            np.testing.assert_allclose(ours(torch.as_tensor(x))[1].detach().numpy(), ours(torch.as_tensor(x))[0].detach().numpy())
        np.testing.assert_allclose(got.detach().numpy(), keras.ops.convert_to_numpy(expected), atol=ATOL, rtol=0)
    inputs = L.Input(shape=(None, 5))
    assert L.RNN(ours_cell(7), return_sequences=True)(inputs).shape == (None, None, 7)


ATTENTION = {
    "dot": lambda K: K.Attention(),
    "dot-scaled": lambda K: K.Attention(use_scale=True),
    "concat-scaled": lambda K: K.Attention(use_scale=True, score_mode="concat"),
    "additive": lambda K: K.AdditiveAttention(),
    "additive-unscaled": lambda K: K.AdditiveAttention(use_scale=False),
}


@pytest.mark.parametrize("name", sorted(ATTENTION))
def test_attention_layers_in_an_encoder_decoder_match_keras(name):
    def build(K, Model):
        enc_in, dec_in = K.Input((7, 3)), K.Input((5, 3))
        enc = K.LSTM(6, return_sequences=True)(K.Masking()(enc_in))
        dec = K.LSTM(6, return_sequences=True)(dec_in)
        context = ATTENTION[name](K)([dec, enc])
        return Model([enc_in, dec_in], K.Dense(2)(K.concatenate([context, dec])))

    theirs, ours = build(keras.layers, keras.Model), build(L, __import__("lstmkit").Model)
    randomize(theirs)
    ours.set_weights(theirs.get_weights())
    enc = rng.normal(size=(3, 7, 3)).astype("float32")
    enc[1, 4:] = 0.0  # masked steps of one encoder sequence get no attention
    dec = rng.normal(size=(3, 5, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict([enc, dec]), theirs.predict([enc, dec], verbose=0), atol=ATOL, rtol=0)
    assert ours.count_params() == theirs.count_params()


def test_attention_scores_and_causal_mask_match_keras():
    q, v = rng.normal(size=(2, 4, 3)).astype("float32"), rng.normal(size=(2, 4, 3)).astype("float32")
    out, scores = keras.layers.Attention()([q, v], return_attention_scores=True, use_causal_mask=True)
    got, weights = L.Attention()([torch.as_tensor(q), torch.as_tensor(v)], return_attention_scores=True,
                                 use_causal_mask=True)
    np.testing.assert_allclose(got.numpy(), keras.ops.convert_to_numpy(out), atol=ATOL, rtol=0)
    np.testing.assert_allclose(weights.numpy(), keras.ops.convert_to_numpy(scores), atol=ATOL, rtol=0)
    inputs = [L.Input(shape=(4, 3)), L.Input(shape=(6, 3))]
    context, attention = L.Attention()(inputs, return_attention_scores=True)
    assert context.shape == (None, 4, 3) and attention.shape == (None, 4, 6)


@pytest.mark.parametrize("axis", [-1, (1, 2), None])
def test_normalization_adapts_and_standardises_as_keras(axis):
    data = (rng.normal(size=(50, 4, 3)) * [1.0, 2.0, 5.0] + [0.0, 1.0, -3.0]).astype("float32")
    theirs, ours = keras.layers.Normalization(axis=axis), L.Normalization(axis=axis)
    theirs.adapt(data)
    ours.adapt(data)
    x = rng.normal(size=(5, 4, 3)).astype("float32")
    np.testing.assert_allclose(ours(torch.as_tensor(x)).numpy(), keras.ops.convert_to_numpy(theirs(x)), atol=1e-5, rtol=1e-5)
    given = L.Normalization(mean=2.0, variance=4.0)
    np.testing.assert_allclose(given(torch.tensor([[4.0]])).numpy(), [[1.0]])
    back = L.Normalization(mean=2.0, variance=4.0, invert=True)
    np.testing.assert_allclose(back(torch.tensor([[1.0]])).numpy(), [[4.0]])
