"""Sequential: building, predict, summary and weights exchange as a Keras user writes them."""

import numpy as np
import pytest
import torch

from lstmkit.layers import LSTM, CuDNNLSTM, Dense, Dropout, Embedding, GRU, Input
from lstmkit.models import Sequential


def seed_model():
    """The seed tutorial's classifier, written the way it is written there."""
    model = Sequential()
    model.add(CuDNNLSTM(128, input_shape=(28, 28), return_sequences=True))
    model.add(Dropout(0.2))
    model.add(CuDNNLSTM(128))
    model.add(Dense(64, activation="relu"))
    model.add(Dropout(0.2))
    model.add(Dense(10, activation="softmax"))
    return model


def lstm_params(d, u, biases=1):
    return 4 * u * (d + u + biases)


def test_summary_lists_layers_shapes_and_formula_counts(capsys):
    model = Sequential([Input(shape=(28, 28)), LSTM(128, return_sequences=True), Dropout(0.2), LSTM(128),
                        Dense(10, activation="softmax")])
    model.summary()
    text = capsys.readouterr().out
    expected_rows = [
        ("lstm (LSTM)", "(None, 28, 128)", lstm_params(28, 128)),
        ("dropout (Dropout)", "(None, 28, 128)", 0),
        ("lstm_1 (LSTM)", "(None, 128)", lstm_params(128, 128)),
        ("dense (Dense)", "(None, 10)", 128 * 10 + 10),
    ]
    lines = text.splitlines()
    for name, shape, count in expected_rows:
        row = next(line for line in lines if line.strip().startswith(name))
        assert shape in row and row.rstrip().endswith(f"{count:,}")
    total = sum(count for *_, count in expected_rows)
    assert f"Total params: {total:,}" in text
    assert f"Trainable params: {total:,}" in text
    assert "Non-trainable params: 0" in text


def test_seed_model_builds_with_keras2_names_and_counts():
    model = seed_model()
    assert [layer.name for layer in model.layers] == [
        "cu_dnnlstm", "dropout", "cu_dnnlstm_1", "dense", "dropout_1", "dense_1"
    ]
    expected = lstm_params(28, 128, 2) + lstm_params(128, 128, 2) + 128 * 64 + 64 + 64 * 10 + 10
    assert model.count_params() == expected
    probs = model.predict(np.random.rand(70, 28, 28).astype("float32"))
    assert probs.shape == (70, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_predict_batches_and_accepts_numpy_torch_and_lists():
    model = Sequential([Input(shape=(6, 3)), GRU(4), Dense(2)])
    x = np.random.rand(75, 6, 3)  # float64 numpy, as numpy makes it by default
    whole = model(torch.as_tensor(x, dtype=torch.float32)).detach().numpy()
    for batch_size in (1, 7, 32, 200):
        np.testing.assert_allclose(model.predict(x, batch_size=batch_size), whole, atol=1e-6)
    np.testing.assert_allclose(model.predict(torch.as_tensor(x)), whole, atol=1e-6)
    np.testing.assert_allclose(model.predict(x.tolist()), whole, atol=1e-6)
    assert model.predict(x).dtype == np.float32
    assert model.predict(x, steps=2).shape == (64, 2)


def test_predict_restores_training_mode_and_disables_dropout():
    model = Sequential([Input(shape=(6, 3)), LSTM(4, dropout=0.5, recurrent_dropout=0.5), Dropout(0.5)])
    model.train()
    x = np.random.rand(10, 6, 3)
    np.testing.assert_array_equal(model.predict(x), model.predict(x))
    assert model.training


def test_lazily_built_model_builds_on_first_call(capsys):
    model = Sequential([LSTM(5), Dense(2)])
    assert not model.built
    model.summary()  # Keras prints what it knows of an unbuilt model: the layers, no shapes
    table = capsys.readouterr().out
    assert "lstm (LSTM)" in table and "dense (Dense)" in table and table.count("0 (unbuilt)") == 2
    with pytest.raises(ValueError, match="not built"):
        model.set_weights([])
    model.predict(np.zeros((2, 4, 3)))
    assert model.built and model.input_shape == (None, 4, 3) and model.output_shape == (None, 2)
    assert model.count_params() == lstm_params(3, 5) + 5 * 2 + 2
    # built by its data, it takes sequences of other lengths (padded batches), as Keras does,
    # but not another number of features
    assert model.predict(np.zeros((2, 7, 3))).shape == (2, 2)
    with pytest.raises(ValueError, match="expects x of shape"):
        model.predict(np.zeros((2, 4, 5)))
    declared = Sequential([Input((4, 3)), LSTM(5)])
    with pytest.raises(ValueError, match="expects x of shape"):
        declared.predict(np.zeros((2, 7, 3)))  # a declared length is held to


def test_integer_input_for_embedding_models():
    model = Sequential([Input(shape=(5,), dtype="int32"), Embedding(10, 3, mask_zero=True), LSTM(2)])
    ids = np.array([[1, 2, 3, 0, 0], [4, 0, 5, 6, 0]], dtype="int32")
    assert model.predict(ids).shape == (2, 2)
    assert model.predict(ids.astype("float32")).shape == (2, 2)  # whole-number floats are fine


def test_set_weights_then_get_weights_is_identity_and_order_is_layer_order():
    model = seed_model()
    arrays = [np.random.default_rng(i).normal(size=w.shape).astype("float32") for i, w in enumerate(model.get_weights())]
    model.set_weights(arrays)
    for got, given in zip(model.get_weights(), arrays):
        np.testing.assert_array_equal(got, given)
    assert [w.shape for w in model.get_weights()] == [
        (28, 512), (128, 512), (1024,), (128, 512), (128, 512), (1024,), (128, 64), (64,), (64, 10), (10,)
    ]


def test_double_and_state_dict():
    model = Sequential([Input(shape=(4, 2)), LSTM(3), Dense(1)]).double()
    out = model.predict(np.ones((2, 4, 2), dtype="float32"))
    assert out.dtype == np.float64
    other = Sequential([Input(shape=(4, 2)), LSTM(3), Dense(1)]).double()
    other.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(other.predict(np.ones((2, 4, 2))), out)


def test_pop_and_unique_names():
    model = Sequential([Input(shape=(4, 2)), LSTM(3, return_sequences=True), LSTM(3), Dense(1)])
    assert [l.name for l in model.layers] == ["lstm", "lstm_1", "dense"]
    assert model.pop().name == "dense"
    with pytest.raises(ValueError, match="unique names"):
        Sequential([Dense(2, name="head", input_shape=(3,)), Dense(2, name="head")])


def test_config_round_trip_of_a_model():
    model = seed_model()
    clone = Sequential.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    x = np.random.rand(3, 28, 28)
    np.testing.assert_allclose(clone.predict(x), model.predict(x), atol=1e-6)


def test_double_before_build_is_kept_when_weights_are_created_late():
    model = Sequential([LSTM(3), Dense(1)]).double()
    assert model.compute_dtype == torch.float64
    assert model.predict(np.ones((2, 4, 2), dtype="float32")).dtype == np.float64
    assert all(p.dtype == torch.float64 for p in model.parameters())


def test_predict_from_several_threads_equals_one_and_leaves_the_mode_alone():
    """predict reads no train/eval flag that another thread could flip: four threads predicting
    at once (small batches, so their calls interleave) equal one thread, the dropout of the
    LSTM and of the Dropout layer stays off in all of them, and the model keeps its mode."""
    import threading

    rng = np.random.default_rng(4)
    x = rng.normal(size=(2000, 6, 3)).astype("float32")
    y = rng.integers(0, 2, size=2000)
    model = Sequential([LSTM(16, dropout=0.3, input_shape=(6, 3)), Dropout(0.5), Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=256, verbose=0)
    model.train()  # as fit leaves it; inference must not depend on it
    alone = model.predict(x, batch_size=8)
    model.eval()
    np.testing.assert_array_equal(model.predict(x, batch_size=8), alone)
    model.train()
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results[i] = model.predict(x, batch_size=8)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i in range(4):
        # the same arithmetic on every thread; a thread's thread count for its products may
        # differ, so equal up to float32 rounding of a 16-unit LSTM
        np.testing.assert_allclose(results[i], alone, rtol=0, atol=1e-6)
    assert model.training
    model.evaluate(x[:64], y[:64], verbose=0)
    assert model.training  # evaluate does not switch it off either
