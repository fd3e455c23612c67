"""model.save / load_model / save_weights / load_weights: a zip of JSON and safetensors, no pickle."""

import json
import os
import struct

import numpy as np
import pytest
import torch

import lstmkit.layers as L
from lstmkit.models import Sequential, load_model
from lstmkit.optimizers import Adam, RMSprop
from lstmkit.utils import set_random_seed

rng = np.random.default_rng(21)
x = rng.normal(size=(40, 6, 3)).astype("float32")
y = rng.integers(0, 4, size=40)


def trained(optimizer=None):
    set_random_seed(4)
    m = Sequential([
        L.Input(shape=(6, 3)),
        L.Masking(),
        L.Bidirectional(L.LSTM(5, return_sequences=True, kernel_regularizer="l2", recurrent_dropout=0.1)),
        L.GRU(4, kernel_constraint="max_norm", kernel_initializer="he_normal"),
        L.Dropout(0.2),
        L.Dense(4, activation="softmax", bias_initializer=L.Dense(1).bias_initializer),
    ])
    m.compile(optimizer=optimizer or Adam(lr=0.01, decay=1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x, y, batch_size=8, epochs=2, verbose=0)
    return m


def header(path):
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(length))


def test_a_saved_model_reloads_and_predicts_identically(tmp_path):
    m = trained()
    path = tmp_path / "model.lstmkit"
    m.save(path)
    again = load_model(path)
    np.testing.assert_array_equal(again.predict(x), m.predict(x))
    assert [layer.name for layer in again.layers] == [layer.name for layer in m.layers]
    assert again.optimizer.iterations == m.optimizer.iterations == 10
    assert again.optimizer.get_config() == m.optimizer.get_config()
    assert again.metrics_names == ["loss", "accuracy"]
    np.testing.assert_allclose(again.evaluate(x, y, verbose=0), m.evaluate(x, y, verbose=0), rtol=1e-6)


def test_training_resumed_from_a_save_continues_the_same_run(tmp_path):
    for optimizer in (Adam(learning_rate=0.01), RMSprop(momentum=0.5)):
        m = trained(optimizer)
        m.save(tmp_path / "m.lstmkit")
        resumed = load_model(tmp_path / "m.lstmkit")
        for model in (m, resumed):
            set_random_seed(9)  # the same shuffles and dropout draws for both
            model.fit(x, y, batch_size=8, epochs=4, initial_epoch=2, verbose=0)
        for a, b in zip(resumed.get_weights(), m.get_weights()):
            np.testing.assert_array_equal(a, b)
        assert resumed.optimizer.iterations == m.optimizer.iterations == 20


def test_the_file_is_a_zip_of_json_and_safetensors(tmp_path):
    import zipfile

    from safetensors.torch import load as load_safetensors

    path = tmp_path / "m.lstmkit"
    trained().save(path)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["lstmkit.json", "tensors.safetensors"]
        meta = json.loads(zf.read("lstmkit.json"))
        tensors = load_safetensors(zf.read("tensors.safetensors"))  # any safetensors reader opens it
    assert meta["format"] == "lstmkit.model"
    config = meta["model_config"]
    assert config["class_name"] == "Sequential"
    assert [entry["class_name"] for entry in config["config"]["layers"]] == [
        "InputLayer", "Masking", "Bidirectional", "GRU", "Dropout", "Dense"]
    assert meta["compile_config"]["optimizer"]["class_name"] == "Adam"
    assert any(key.startswith("weights.") for key in tensors)
    assert any(key.startswith("optimizer.") for key in tensors)


def test_weights_only(tmp_path):
    m = trained()
    m.save_weights(tmp_path / "w.safetensors")
    fresh = Sequential.from_config(m.get_config())
    fresh.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(fresh.predict(x), m.predict(x))
    with pytest.raises(ValueError, match="holds weights only"):
        load_model(tmp_path / "w.safetensors")
    other = Sequential([L.Input(shape=(6, 3)), L.LSTM(3), L.Dense(4)])
    with pytest.raises(ValueError, match="do not fit model"):
        other.load_weights(tmp_path / "w.safetensors")


def test_a_model_saved_uncompiled_loads_uncompiled(tmp_path):
    m = Sequential([L.Input(shape=(6, 3)), L.SimpleRNN(3), L.Dense(2)])
    m.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert not again.compiled
    np.testing.assert_array_equal(again.predict(x), m.predict(x))


def test_float64_models_stay_float64(tmp_path):
    m = Sequential([L.Input(shape=(6, 3)), L.LSTM(3), L.Dense(2)]).double()
    m.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert again.compute_dtype == torch.float64
    np.testing.assert_array_equal(again.predict(x), m.predict(x))


def test_custom_functions_come_back_through_custom_objects(tmp_path):
    def wiggle(t):
        return torch.sin(t) * 0.5

    def doubled_mse(y_true, y_pred):
        return 2 * (y_true - y_pred).square().mean(-1)

    m = Sequential([L.Input(shape=(6, 3)), L.LSTM(3, activation=wiggle), L.Dense(1)])
    m.compile(optimizer="sgd", loss=doubled_mse)
    m.fit(x, rng.normal(size=(40, 1)), verbose=0)
    m.save(tmp_path / "m")
    with pytest.raises(ValueError, match="custom_objects"):
        load_model(tmp_path / "m")
    again = load_model(tmp_path / "m", custom_objects={"wiggle": wiggle, "doubled_mse": doubled_mse})
    np.testing.assert_array_equal(again.predict(x), m.predict(x))
    assert again.loss is doubled_mse
    lambdas = Sequential([L.Input(shape=(6, 3)), L.LSTM(3, activation=lambda t: t)])
    with pytest.raises(TypeError, match="give it a name"):
        lambdas.save(tmp_path / "lambda")


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing")
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"PK\x03\x04 a zip file, as Keras writes")
    with pytest.raises(ValueError, match="not a whole lstmkit model file"):
        load_model(junk)
    unbuilt = Sequential([L.LSTM(3)])
    with pytest.raises(ValueError, match="not built"):
        unbuilt.save(tmp_path / "u")
    m = trained()
    m.save(tmp_path / "exists")
    with pytest.raises(FileExistsError):
        m.save(tmp_path / "exists", overwrite=False)


@pytest.mark.parametrize("fail_at", ["write", "fsync", "rename"])
def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch, fail_at):
    m = trained()
    path = tmp_path / "m.lstmkit"
    m.save(path)
    before = path.read_bytes()
    import lstmkit._io as io_module

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if fail_at == "write":  # half the bytes reach the disk, then the disk is full
        real_fdopen = os.fdopen

        class HalfFile:
            def __init__(self, f):
                self.f = f
            def __enter__(self):
                return self
            def __exit__(self, *exc):
                self.f.close()
            def write(self, data):
                self.f.write(bytes(data)[: len(data) // 2])
                disk_full()
            def __getattr__(self, name):
                return getattr(self.f, name)

        monkeypatch.setattr(io_module.os, "fdopen", lambda *a, **k: HalfFile(real_fdopen(*a, **k)))
    elif fail_at == "fsync":
        monkeypatch.setattr(io_module.os, "fsync", disk_full)
    else:
        monkeypatch.setattr(io_module.os, "replace", disk_full)
    with pytest.raises(OSError, match="m.lstmkit") as caught:
        m.save(path)
    assert "No space left" in str(caught.value)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.lstmkit"]  # no temporary file left behind
    np.testing.assert_array_equal(load_model(path).predict(x), m.predict(x))


@pytest.mark.parametrize(
    "layers",
    [
        [L.Embedding(20, 4, mask_zero=True), L.LSTM(3, go_backwards=True, unit_forget_bias=False), L.Dense(2)],
        [L.Embedding(20, 4), L.CuDNNLSTM(3, return_sequences=True), L.TimeDistributed(L.Dense(2, activation="tanh"))],
        [L.Embedding(20, 4), L.GRU(3, reset_after=False, recurrent_activation="hard_sigmoid"), L.Dense(2, kernel_regularizer=None)],
        [L.Embedding(20, 4), L.Bidirectional(L.SimpleRNN(3), merge_mode="sum"), L.Dense(1, activation="sigmoid")],
        [L.Embedding(20, 4), L.Dropout(0.3, noise_shape=(None, 1, 4)), L.LSTM(2, dropout=0.2)],
    ],
)
def test_every_layer_round_trips(tmp_path, layers):
    m = Sequential([L.Input(shape=(5,), dtype="int32"), *layers])
    tokens = rng.integers(0, 20, size=(7, 5))
    m.save(tmp_path / "m")
    np.testing.assert_array_equal(load_model(tmp_path / "m").predict(tokens), m.predict(tokens))
