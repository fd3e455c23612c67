"""Loading weights is all or nothing, a Keras file's doubtful settings are refused by name, and a
generator that runs out ends training with Keras's warning and the History kept."""

import json
import warnings
import zipfile

import h5py
import keras
import numpy as np
import pytest

import lstmkit
import lstmkit.layers as L
from lstmkit.models import Sequential, load_model
from lstmkit.models.keras_files import KerasFileError

rng = np.random.default_rng(5)


def keras_pair(tmp_path):
    """A Keras LSTM + Dense model saved as weights, and lstmkit's same model with other weights."""
    theirs = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(4)])
    theirs.save_weights(tmp_path / "w.weights.h5")
    ours = Sequential([L.Input(shape=(5, 3)), L.LSTM(4), L.Dense(4)])
    ours.set_weights([rng.normal(size=w.shape).astype("float32") for w in ours.get_weights()])
    return theirs, ours


def test_a_transposed_dense_kernel_changes_no_weight_of_the_model(tmp_path):
    theirs, ours = keras_pair(tmp_path)
    with h5py.File(tmp_path / "w.weights.h5", "a") as f:
        kernel = f["layers/dense/vars/0"][()]
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = (kernel + 1).T if kernel.shape[0] != kernel.shape[1] else (kernel + 1)[:, :2]
    before = ours.get_weights()
    with pytest.raises(KerasFileError, match=r"w\.weights\.h5.*dense.*shape"):
        ours.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(ours.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_a_wrong_shape_in_set_weights_changes_no_weight_of_the_model():
    ours = Sequential([L.Input(shape=(5, 3)), L.LSTM(4), L.Dense(2)])
    before = ours.get_weights()
    new = [w + 1 for w in before]
    new[-2] = new[-2].T  # the Dense kernel (4, 2) given as (2, 4): the same count of values
    with pytest.raises(ValueError, match=r"dense.*expects shape \(4, 2\), got \(2, 4\)"):
        ours.set_weights(new)
    for a, b in zip(ours.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_the_good_weights_load_as_keras_predicts(tmp_path):
    theirs, ours = keras_pair(tmp_path)
    ours.load_weights(tmp_path / "w.weights.h5")
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5, rtol=0)


def saved_keras_model(tmp_path):
    theirs = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(2)])
    theirs.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
    theirs.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        return {name: z.read(name) for name in z.namelist()}


def rezip(path, members):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of a duplicated name, on purpose here
        with zipfile.ZipFile(path, "w") as z:
            for name, data in members:
                z.writestr(name, data)


def test_a_compile_config_naming_the_abstract_optimizer_is_refused_by_name(tmp_path):
    members = saved_keras_model(tmp_path)
    config = json.loads(members["config.json"])
    assert config["compile_config"]["optimizer"]["class_name"] == "Adam"
    config["compile_config"]["optimizer"]["class_name"] = "Optimizer"
    rezip(tmp_path / "abstract.keras", [(k, json.dumps(config) if k == "config.json" else v) for k, v in members.items()])
    with pytest.warns(UserWarning, match=r"abstract\.keras.*uncompiled.*'Optimizer'"):
        model = load_model(tmp_path / "abstract.keras")
    assert model.optimizer is None
    assert isinstance(load_model(tmp_path / "m.keras").optimizer, lstmkit.optimizers.Adam)


def test_a_keras_file_with_two_config_members_is_refused_by_name(tmp_path):
    members = saved_keras_model(tmp_path)
    other = json.loads(members["config.json"])
    other["config"]["layers"][-1]["config"]["units"] = 3
    rezip(tmp_path / "twice.keras", [("config.json", members["config.json"]), *members.items(),
                                     ("config.json", json.dumps(other))])
    with pytest.raises(ValueError, match=r"twice\.keras.*twice.*config\.json"):
        load_model(tmp_path / "twice.keras")


def batches(n):
    for _ in range(n):
        yield rng.normal(size=(5, 4, 2)).astype("float32"), rng.normal(size=(5, 1)).astype("float32")


def test_a_generator_that_runs_out_warns_as_keras_does_and_keeps_the_history():
    model = Sequential([L.Input(shape=(4, 2)), L.LSTM(3), L.Dense(1)])
    model.compile("adam", "mse")
    with pytest.warns(UserWarning, match=r"Your input ran out of data; interrupting training.*steps_per_epoch \* epochs"):
        history = model.fit(batches(3), steps_per_epoch=2, epochs=3, verbose=0)
    assert history is model.history and history.epoch == [0, 1] and len(history.history["loss"]) == 2
    # the same data, enough of it: no warning, every epoch
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert model.fit(batches(6), steps_per_epoch=2, epochs=3, verbose=0).epoch == [0, 1, 2]


def test_a_generator_that_yields_nothing_is_still_an_error():
    model = Sequential([L.Input(shape=(4, 2)), L.LSTM(3), L.Dense(1)])
    model.compile("adam", "mse")
    with pytest.raises(ValueError, match="yielded no batches"):
        model.fit(batches(0), steps_per_epoch=2, epochs=3, verbose=0)
