"""Models and weights saved by real Keras 3 (in the test, on its torch backend) load into lstmkit
and predict what Keras predicts, to 1e-5; code in a file is never run."""

import json
import time
import zipfile

import keras
import numpy as np
import pytest

import lstmkit
from lstmkit.models import Sequential, load_model
from lstmkit.models.keras_files import KerasFileError

ATOL = 1e-5
rng = np.random.default_rng(11)


def randomize(model):
    """Every weight away from its initial value; variances stay positive."""
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32")
                       if "variance" in w.path else rng.uniform(-0.5, 0.5, w.shape).astype("float32")
                       for w in model.weights])


def sequential_zoo(K):
    return keras.Sequential([
        K.Input((12, 4)),
        K.Conv1D(6, 3, padding="same", activation="relu"),
        K.MaxPooling1D(2),
        K.BatchNormalization(),
        K.Bidirectional(K.LSTM(5, return_sequences=True)),
        K.Dropout(0.3),
        K.GRU(4, reset_after=False, return_sequences=True),
        K.TimeDistributed(K.Dense(3, activation="tanh", kernel_regularizer=keras.regularizers.L2(0.01))),
        K.SimpleRNN(3, kernel_constraint=keras.constraints.MaxNorm(2.0)),
        K.Dense(2, activation="softmax"),
    ])


def functional_seq2seq():
    enc_in = keras.Input((None, 5), name="encoder_inputs")
    _, h, c = keras.layers.LSTM(6, return_state=True)(enc_in)
    dec_in = keras.Input((None, 7), name="decoder_inputs")
    seq = keras.layers.LSTM(6, return_sequences=True)(dec_in, initial_state=[h, c])
    return keras.Model([enc_in, dec_in], keras.layers.Dense(7, activation="softmax")(seq))


def embedding_model():
    ids = keras.Input((9,), dtype="int32")
    x = keras.layers.Embedding(30, 4, mask_zero=True)(ids)
    inner = keras.Sequential([keras.Input((9, 4)), keras.layers.LSTM(5)], name="inner")
    y = keras.layers.concatenate([inner(x), keras.layers.GlobalAveragePooling1D()(x)])
    return keras.Model(ids, keras.layers.Dense(1, activation="sigmoid")(y))


CASES = {
    "sequential-zoo": (lambda: sequential_zoo(keras.layers), lambda: rng.normal(size=(3, 12, 4)).astype("float32")),
    "functional-seq2seq": (functional_seq2seq, lambda: [rng.normal(size=(3, 4, 5)).astype("float32"),
                                                        rng.normal(size=(3, 6, 7)).astype("float32")]),
    "embedding-nested-sequential": (embedding_model, lambda: np.where(rng.uniform(size=(3, 9)) < 0.3, 0,
                                                                      rng.integers(1, 30, (3, 9)))),
}


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_models_saved_by_keras_load_and_predict_the_same(tmp_path, case, suffix):
    make, data = CASES[case]
    theirs = make()
    randomize(theirs)
    theirs.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse", metrics=["mae"])
    path = tmp_path / f"model{suffix}"
    theirs.save(path)
    x = data()
    ours = load_model(path)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), atol=ATOL, rtol=0)
    assert ours.count_params() == theirs.count_params()
    assert [type(layer).__name__ for layer in ours.layers if not isinstance(layer, lstmkit.layers.InputLayer)] == \
        [type(layer).__name__.replace("Functional", "Model") for layer in theirs.layers
         if not isinstance(layer, keras.layers.InputLayer)]
    assert ours.compiled and ours.optimizer.learning_rate == pytest.approx(0.01)
    y = ours.predict(x)
    ours.fit(x, y + 0.1, epochs=1, verbose=0)  # it trains as it is


def test_weights_files_of_keras_load_into_a_model_built_by_the_program(tmp_path):
    theirs = sequential_zoo(keras.layers)
    randomize(theirs)
    theirs.save_weights(tmp_path / "w.weights.h5")
    ours = Sequential(_zoo_ours())
    ours.load_weights(tmp_path / "w.weights.h5")
    x = rng.normal(size=(3, 12, 4)).astype("float32")
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), atol=ATOL, rtol=0)


def _zoo_ours():
    L = lstmkit.layers
    return [
        L.InputLayer((12, 4)),
        L.Conv1D(6, 3, padding="same", activation="relu"),
        L.MaxPooling1D(2),
        L.BatchNormalization(),
        L.Bidirectional(L.LSTM(5, return_sequences=True)),
        L.Dropout(0.3),
        L.GRU(4, reset_after=False, return_sequences=True),
        L.TimeDistributed(L.Dense(3, activation="tanh")),
        L.SimpleRNN(3),
        L.Dense(2, activation="softmax"),
    ]


def test_a_lambda_s_code_is_never_run_and_custom_objects_supply_it(tmp_path):
    inputs = keras.Input((4, 3))
    out = keras.layers.Lambda(lambda t: t * 2.0, name="doubler")(keras.layers.LSTM(3, return_sequences=True)(inputs))
    theirs = keras.Model(inputs, out)
    path = tmp_path / "lambda.keras"
    theirs.save(path)
    with pytest.raises(KerasFileError, match="lstmkit never runs code from a file.*custom_objects=\\{'doubler'"):
        load_model(path)
    ours = load_model(path, custom_objects={"doubler": lambda t: t * 2.0})
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), atol=ATOL, rtol=0)


def test_custom_layer_classes_and_arguments_lstmkit_lacks_are_refused_by_name(tmp_path):
    @keras.saving.register_keras_serializable(package="test")
    class Scale(keras.layers.Layer):
        def call(self, x):
            return x * 3.0

    theirs = keras.Sequential([keras.Input((4,)), Scale(), keras.layers.Dense(2)])
    theirs.save(tmp_path / "custom.keras")
    with pytest.raises(KerasFileError, match="class lstmkit does not have.*custom_objects"):
        load_model(tmp_path / "custom.keras")
    renorm = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(renorm=True)])
    renorm.save(tmp_path / "renorm.h5")
    with pytest.raises(KerasFileError, match="renorm=True"):
        load_model(tmp_path / "renorm.h5")


def test_a_keras_file_whose_architecture_disagrees_with_its_weights_is_refused_before_allocating(tmp_path):
    theirs = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4)])
    path = tmp_path / "m.keras"
    theirs.save(path)
    hostile = tmp_path / "hostile.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(hostile, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                config["config"]["layers"][1]["config"]["units"] = 200_000  # 3.2e11 weights if allocated
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    start = time.perf_counter()
    with pytest.raises(KerasFileError, match=r"layer 'lstm[_0-9]*' \(LSTM\) has weights of shapes \[\(3, 800000\)"):
        load_model(hostile)
    assert time.perf_counter() - start < 5.0


def test_a_model_with_a_user_s_layer_trained_in_keras_loads_with_custom_objects(tmp_path):

    import lstmkit.compat.backend as K
    from test_keras_namespace import attention_class

    ops = keras.ops
    TheirAttention = keras.saving.register_keras_serializable(package="blog")(attention_class(
        keras.layers.Layer, ops.tanh, ops.matmul, ops.squeeze, ops.softmax, ops.expand_dims,
        lambda t, a: ops.sum(t, axis=a)))
    OurAttention = attention_class(lstmkit.layers.Layer, K.tanh, K.dot, K.squeeze, K.softmax, K.expand_dims,
                                   lambda t, a: K.sum(t, axis=a))
    inputs = keras.Input(shape=(6, 3))
    theirs = keras.Model(inputs, keras.layers.Dense(1)(TheirAttention()(keras.layers.GRU(4, return_sequences=True)(inputs))))
    theirs.compile("adam", "mse")
    x = rng.normal(size=(32, 6, 3)).astype("float32")
    theirs.fit(x, x.sum((1, 2))[:, None], epochs=3, verbose=0)  # trained in Keras
    for suffix in (".keras", ".h5"):
        theirs.save(tmp_path / f"m{suffix}")
        with pytest.raises(KerasFileError, match="Attention"):
            load_model(tmp_path / f"m{suffix}")
        ours = load_model(tmp_path / f"m{suffix}", custom_objects={"Attention": OurAttention})
        np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), atol=ATOL, rtol=0)
    assert isinstance(ours.layers[2], OurAttention)


@pytest.mark.parametrize("damage", ["truncated", "config not a model", "weights missing a layer"])
def test_broken_keras_files_are_refused_by_name(tmp_path, damage):
    theirs = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(1)])
    theirs.save(tmp_path / "m.keras")
    theirs.save(tmp_path / "m.h5")
    if damage == "truncated":
        data = (tmp_path / "m.h5").read_bytes()
        (tmp_path / "broken.h5").write_bytes(data[: len(data) // 2])
        target = tmp_path / "broken.h5"
    else:
        target = tmp_path / "broken.keras"
        with zipfile.ZipFile(tmp_path / "m.keras") as src, zipfile.ZipFile(target, "w") as dst:
            for item in src.infolist():
                data = src.read(item.filename)
                if item.filename == "config.json" and damage == "config not a model":
                    data = json.dumps({"class_name": "Dense", "config": {"units": 3}}).encode()
                if item.filename == "model.weights.h5" and damage == "weights missing a layer":
                    import h5py
                    import io

                    buffer = io.BytesIO(data)
                    with h5py.File(buffer, "a") as f:
                        del f["layers/dense"]
                    data = buffer.getvalue()
                dst.writestr(item, data)
    with pytest.raises(ValueError, match="broken"):
        load_model(target)


def test_architecture_json_from_keras_and_from_lstmkit(tmp_path):
    from lstmkit.models import model_from_json

    theirs = functional_seq2seq()
    randomize(theirs)
    ours = model_from_json(theirs.to_json())
    ours.set_weights(theirs.get_weights())
    x = [rng.normal(size=(2, 4, 5)).astype("float32"), rng.normal(size=(2, 3, 7)).astype("float32")]
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), atol=ATOL, rtol=0)
    # the Keras 2 habit: architecture as JSON, weights apart, both read back
    (tmp_path / "model.json").write_text(ours.to_json(indent=2))
    ours.save_weights(tmp_path / "model.h5")
    again = model_from_json((tmp_path / "model.json").read_text())
    again.load_weights(tmp_path / "model.h5")
    np.testing.assert_allclose(again.predict(x), ours.predict(x), atol=0, rtol=0)
    with pytest.raises(ValueError, match="not valid JSON"):
        model_from_json("{nope")


def test_a_weights_file_linking_to_another_file_is_refused(tmp_path):
    import h5py

    theirs = keras.Sequential([keras.Input((5, 3)), keras.layers.Dense(2)])
    theirs.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "secret.h5", "w") as f:
        f["data"] = np.ones((3, 2), dtype="float32")
    with h5py.File(tmp_path / "w.weights.h5", "a") as f:
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = h5py.ExternalLink(str(tmp_path / "secret.h5"), "/data")
    ours = Sequential([lstmkit.layers.Input(shape=(5, 3)), lstmkit.layers.Dense(2)])
    with pytest.raises(ValueError, match="is a link to another file"):
        ours.load_weights(tmp_path / "w.weights.h5")


def test_compile_settings_of_a_keras_file_carry_over_with_loss_and_metric_objects(tmp_path):
    import lstmkit.losses as OL
    import lstmkit.metrics as OM

    theirs = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(3)])
    theirs.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.003),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                   metrics=[keras.metrics.SparseCategoricalAccuracy(), "accuracy"])
    theirs.save(tmp_path / "m.keras")
    ours = load_model(tmp_path / "m.keras")
    assert isinstance(ours.optimizer, lstmkit.optimizers.RMSprop) and ours.optimizer.learning_rate == pytest.approx(0.003)
    assert isinstance(ours.loss, OL.SparseCategoricalCrossentropy) and ours.loss.from_logits
    x, y = rng.normal(size=(8, 5, 3)).astype("float32"), rng.integers(0, 3, 8)
    theirs_eval = theirs.evaluate(x, y, verbose=0, return_dict=True)
    ours_eval = ours.evaluate(x, y, verbose=0, return_dict=True)
    assert ours_eval["loss"] == pytest.approx(theirs_eval["loss"], rel=1e-5)
    assert ours_eval["sparse_categorical_accuracy"] == pytest.approx(theirs_eval["sparse_categorical_accuracy"])
