"""A Keras program's view of lstmkit: the `keras` import hook, `lstmkit.backend`, `get_file` and
Keras's data sets read from its cache, Keras 2's model methods, and `lstmkit run --epochs`.
Oracles: Keras 3 itself (its get_file, imdb/reuters loaders, ctc ops) and lstmkit's own fit on
arrays for the generator paths."""

import io
import os
import sys
import tarfile
import textwrap
import warnings
import zipfile

import keras
import numpy as np
import pytest
import torch

import lstmkit
import lstmkit.compat.backend as K
import lstmkit.layers as L
from lstmkit.datasets import cache, imdb, reuters
from lstmkit.compat.programs import run_program
from lstmkit.models import Sequential
from lstmkit.utils import Sequence, get_file

rng = np.random.default_rng(3)


# ---- the import hook ---------------------------------------------------------------------------

KERAS_2_IMPORTS = [
    ("from keras.layers.recurrent import LSTM", "LSTM", L.LSTM),
    ("from keras.layers.core import Dense, Dropout, Activation", "Activation", L.Activation),
    ("from keras.layers.embeddings import Embedding", "Embedding", L.Embedding),
    ("from keras.layers.convolutional import Conv1D, MaxPooling1D", "MaxPooling1D", L.MaxPooling1D),
    ("from keras.layers.convolutional_recurrent import ConvLSTM2D", "ConvLSTM2D", L.ConvLSTM2D),
    ("from keras.layers.normalization import BatchNormalization", "BatchNormalization", L.BatchNormalization),
    ("from keras.layers.cudnn_recurrent import CuDNNGRU", "CuDNNGRU", L.CuDNNGRU),
    ("from keras.layers.wrappers import Bidirectional", "Bidirectional", L.Bidirectional),
    ("from keras.utils.data_utils import get_file", "get_file", get_file),
    ("from keras.utils.np_utils import to_categorical", "to_categorical", lstmkit.utils.to_categorical),
    ("from keras.preprocessing.sequence import pad_sequences", "pad_sequences", lstmkit.preprocessing.sequence.pad_sequences),
    ("from keras.preprocessing import sequence", "sequence", lstmkit.preprocessing.sequence),
    ("from keras.datasets import imdb", "imdb", imdb),
    ("from keras import backend as K", "K", K),
    ("import keras.backend as K", "K.int_shape", K.int_shape),
    ("from keras.models import Sequential, load_model", "Sequential", Sequential),
    ("from keras.optimizers import RMSprop", "RMSprop", lstmkit.optimizers.RMSprop),
    ("from keras.callbacks import EarlyStopping", "EarlyStopping", lstmkit.callbacks.EarlyStopping),
    ("from tensorflow.keras.layers import GRU", "GRU", L.GRU),
    ("from tensorflow import keras", "keras.layers.Dense", L.Dense),
    ("import tensorflow as tf", "tf.keras.layers.LSTM", L.LSTM),
    ("import keras", "keras.layers.Conv2D", L.Conv2D),
    ("import keras as K2", "K2.Sequential", Sequential),
    ("import keras", "keras.Input", L.Input),
    ("from keras import layers", "layers.GlobalMaxPooling1D", L.GlobalMaxPooling1D),
    ("import tf_keras as keras", "keras.utils.Sequence", Sequence),
]


@pytest.mark.parametrize("statement, name, expected", KERAS_2_IMPORTS)
def test_keras_names_resolve_to_lstmkit_objects_under_the_hook(statement, name, expected):
    names = {}
    with lstmkit.install_keras_alias():
        exec(statement + f"\nfound = {name}", names)
    assert names["found"] is expected


def test_the_real_keras_is_shadowed_only_while_the_hook_is_on():
    real = sys.modules["keras"]
    assert real is keras and real.__name__ == "keras" and not hasattr(real, "install_keras_alias")  # the oracle
    hook = lstmkit.install_keras_alias()
    try:
        import keras as inside

        assert inside.layers.LSTM is L.LSTM
    finally:
        hook.remove()
    import keras as after

    assert after is real and sys.modules["keras"] is real
    assert not any(isinstance(f, lstmkit.compat.keras_alias._Finder) for f in sys.meta_path)


def test_tensorflow_beyond_lstmkits_subset_is_an_error_that_says_so():
    with lstmkit.install_keras_alias():
        import tensorflow as tf

        assert tf.keras.models.Sequential is Sequential
        assert float(tf.constant(1.0)) == 1.0  # in the subset (issue 27)
        with pytest.raises(AttributeError, match=r"tensorflow.compat is outside the part of TensorFlow that lstmkit "
                                                 r"provides .*TensorFlow 2 form"):
            tf.compat.v1.Session()
        with pytest.raises(ModuleNotFoundError, match="tensorflow.python is not part of it"):
            import tensorflow.python  # noqa: F401
        with pytest.raises(ModuleNotFoundError, match="No module named 'keras.applications'.*lstmkit has"):
            import keras.applications  # noqa: F401


def test_a_program_runs_with_its_keras_imports_and_epochs_overridden(tmp_path):
    program = tmp_path / "prog.py"
    program.write_text(textwrap.dedent("""
        import numpy as np
        import keras
        from keras.layers.recurrent import LSTM
        from keras import backend as K
        model = keras.Sequential([keras.Input(shape=(4, 2)), LSTM(3), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        history = model.fit(np.zeros((8, 4, 2)), np.zeros((8, 1)), epochs=40, verbose=0)
        first = model.fit(np.zeros((8, 4, 2)), np.zeros((8, 1)), epochs=7, verbose=0)
        backend_name = K.backend()
    """))
    names = run_program(program, epochs=2)
    assert len(names["history"].history["loss"]) == 2 and len(names["first"].history["loss"]) == 2
    assert names["backend_name"] == "torch"
    assert len(run_program(program)["history"].history["loss"]) == 40
    assert sys.modules["keras"] is keras


# ---- backend -------------------------------------------------------------------------------------

def test_backend_settings_and_refusals():
    assert K.backend() == "torch" and K.floatx() == "float32" and K.epsilon() == pytest.approx(1e-7)
    assert K.image_data_format() == "channels_last"
    K.set_image_data_format("channels_first")
    try:
        assert L.Conv2D(2, 3).data_format == "channels_first"
    finally:
        K.set_image_data_format("channels_last")
    with pytest.raises(ValueError, match="data_format"):
        K.set_image_data_format("nchw")
    with pytest.raises(ValueError, match="set_floatx\\('float16'\\)"):
        K.set_floatx("float16")
    with pytest.raises(AttributeError, match="keras.backend.tile is not provided.*torch.tile"):
        K.tile
    assert K.int_shape(L.Input(shape=(None, 4))) == (None, None, 4)
    assert K.int_shape(np.zeros((2, 3))) == (2, 3)


def test_backend_math_matches_keras_ops():
    x = rng.normal(size=(3, 4, 5)).astype("float32")
    t = torch.as_tensor(x)
    ops = keras.ops
    pairs = [
        (K.sum(t, axis=1), ops.sum(x, axis=1)), (K.mean(t, axis=[1, 2], keepdims=True), ops.mean(x, axis=[1, 2], keepdims=True)),
        (K.max(t, axis=-1), ops.max(x, axis=-1)), (K.min(t), ops.min(x)), (K.std(t, axis=0), ops.std(x, axis=0)),
        (K.square(t), ops.square(x)), (K.sqrt(K.abs(t)), ops.sqrt(ops.abs(x))), (K.exp(t), ops.exp(x)),
        (K.clip(t, -0.5, 0.5), ops.clip(x, -0.5, 0.5)), (K.softmax(t), ops.softmax(x)),
        (K.batch_dot(t, t, axes=(2, 2)), np.einsum("bik,bjk->bij", x, x)),
        (K.batch_dot(t[:, 0], t[:, 1], axes=1), (x[:, 0] * x[:, 1]).sum(-1, keepdims=True)),
        (K.permute_dimensions(t, (0, 2, 1)), ops.transpose(x, (0, 2, 1))), (K.repeat_elements(t, 2, 1), ops.repeat(x, 2, 1)),
        (K.concatenate([t, t], axis=1), ops.concatenate([x, x], axis=1)), (K.l2_normalize(t, -1), x / np.linalg.norm(x, axis=-1, keepdims=True)),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(np.asarray(ours), keras.ops.convert_to_numpy(theirs), rtol=1e-5, atol=1e-6)


def test_ctc_cost_and_greedy_decode_match_keras_ops():
    B, T, C = 3, 12, 6  # class C-1 is the blank, as Keras's ctc_batch_cost has it
    probs = torch.softmax(torch.as_tensor(rng.normal(size=(B, T, C)).astype("float32")) * 3, -1)
    labels = torch.as_tensor(rng.integers(0, C - 1, (B, 4)))
    label_length = torch.tensor([[4], [2], [3]])
    input_length = torch.tensor([[12], [10], [7]])
    ours = K.ctc_batch_cost(labels, probs, input_length, label_length)
    theirs = keras.ops.ctc_loss(labels, torch.log(probs), label_length[:, 0], input_length[:, 0], mask_index=C - 1)
    assert ours.shape == (B, 1)
    np.testing.assert_allclose(ours[:, 0].numpy(), keras.ops.convert_to_numpy(theirs), rtol=1e-5)
    (decoded,), _ = K.ctc_decode(probs, input_length[:, 0])
    (expected,), _ = keras.ops.ctc_decode(probs, input_length[:, 0], strategy="greedy", mask_index=C - 1)
    expected = keras.ops.convert_to_numpy(expected)
    for ours_row, their_row in zip(decoded.numpy(), expected):
        assert [v for v in ours_row if v >= 0] == [v for v in their_row if v >= 0]
    with pytest.raises(ValueError, match="greedy=False"):
        K.ctc_decode(probs, input_length[:, 0], greedy=False)


def test_k_function_gives_an_inner_layer_s_output():
    model = Sequential([L.Input(shape=(5, 3)), L.LSTM(4, return_sequences=True), L.GlobalMaxPooling1D(), L.Dense(2)])
    probe = K.function([model.input], [model.layers[0].output])
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    (inner,) = probe([x, 0])
    np.testing.assert_allclose(inner, model.layers[0](torch.as_tensor(x)).detach().numpy(), atol=1e-6)


# ---- get_file and the data sets -------------------------------------------------------------------

def test_get_file_without_the_file_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"does not download.*https://example.org/data/corpus.txt .*"
                                                 + str(tmp_path / "datasets" / "corpus.txt")):
        get_file("corpus.txt", origin="https://example.org/data/corpus.txt")
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "corpus.txt").write_text("hello")
    assert get_file("corpus.txt", origin="https://example.org/data/corpus.txt") == str(tmp_path / "datasets" / "corpus.txt")
    assert get_file(origin="https://example.org/data/corpus.txt") == str(tmp_path / "datasets" / "corpus.txt")
    with pytest.warns(UserWarning, match="does not match the file_hash"):
        get_file("corpus.txt", origin="https://example.org/x", file_hash="0" * 64)
    with pytest.raises(ValueError, match="origin"):
        get_file("corpus.txt")


def _archives(folder):
    payload = {"data/a.txt": b"first", "data/sub/b.txt": b"second"}
    with tarfile.open(folder / "corpus.tar.gz", "w:gz") as tar:
        for name, data in payload.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(folder / "corpus.zip", "w") as z:
        for name, data in payload.items():
            z.writestr(name, data)
    (folder / "plain_archive").write_bytes((folder / "corpus.zip").read_bytes())


@pytest.mark.parametrize("kwargs", [dict(fname="corpus.tar.gz", extract=True), dict(fname="corpus.zip", extract=True),
                                    dict(fname="corpus.tar.gz", untar=True), dict(fname="plain", extract=True)])
def test_get_file_extracts_where_keras_3_does(tmp_path, kwargs):
    ours_dir, keras_dir = tmp_path / "ours", tmp_path / "keras"
    for d in (ours_dir, keras_dir):
        (d / "datasets").mkdir(parents=True)
        _archives(d / "datasets")
    origin = "https://example.org/nowhere/archive"
    ours = get_file(origin=origin, cache_dir=str(ours_dir), **kwargs)
    theirs = keras.utils.get_file(origin=origin, cache_dir=str(keras_dir), **kwargs)
    assert os.path.relpath(ours, ours_dir) == os.path.relpath(theirs, keras_dir)
    found = sorted(os.path.relpath(os.path.join(r, f), ours) for r, _, fs in os.walk(ours) for f in fs)
    assert found == sorted(os.path.relpath(os.path.join(r, f), theirs) for r, _, fs in os.walk(theirs) for f in fs)
    assert open(os.path.join(ours, "data", "sub", "b.txt"), "rb").read() == b"second"


def test_an_archive_reaching_outside_its_folder_is_refused(tmp_path):
    (tmp_path / "datasets").mkdir()
    with tarfile.open(tmp_path / "datasets" / "evil.tar", "w") as tar:
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ValueError, match="outside"):
        get_file("evil.tar", origin="https://example.org/evil.tar", extract=True, cache_dir=str(tmp_path))
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path.parent / "escaped.txt").exists()


@pytest.fixture
def keras_cache(tmp_path, monkeypatch):
    """Small files in Keras's format in a fresh cache, seen by lstmkit and (its download step
    bypassed, as the files are not the published ones) by Keras's own loaders."""
    folder = tmp_path / "datasets"
    folder.mkdir()

    def texts(n):
        out = np.empty(n, dtype=object)
        out[:] = [rng.integers(1, 300, rng.integers(3, 40)).tolist() for _ in range(n)]
        return out

    np.savez(folder / "imdb.npz", x_train=texts(50), y_train=rng.integers(0, 2, 50), x_test=texts(40),
             y_test=rng.integers(0, 2, 40))
    np.savez(folder / "reuters.npz", x=texts(70), y=rng.integers(0, 46, 70))
    (folder / "imdb_word_index.json").write_text('{"the": 1, "movie": 17}')
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    import keras.src.datasets.imdb as keras_imdb
    import keras.src.datasets.reuters as keras_reuters

    def cached(fname, origin, file_hash=None, **kwargs):
        return str(folder / fname)

    monkeypatch.setattr(keras_imdb, "get_file", cached)
    monkeypatch.setattr(keras_reuters, "get_file", cached)
    return folder


ARGUMENTS = [{}, dict(num_words=100, skip_top=5, maxlen=30), dict(start_char=None, oov_char=None, index_from=0, num_words=50),
             dict(seed=7, index_from=2), dict(maxlen=20, oov_char=None, skip_top=3)]


@pytest.mark.parametrize("kwargs", ARGUMENTS)
@pytest.mark.parametrize("dataset", ["imdb", "reuters"])
def test_word_datasets_match_keras_s_loaders(keras_cache, dataset, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the small files do not match the published hashes
        ours = {"imdb": imdb, "reuters": reuters}[dataset].load_data(**kwargs)
    theirs = getattr(keras.datasets, dataset).load_data(**kwargs)
    for a, b in zip([*ours[0], *ours[1]], [*theirs[0], *theirs[1]]):
        assert a.dtype == b.dtype and a.shape == b.shape
        if a.dtype == object:
            assert [list(u) for u in a] == [list(v) for v in b]
        else:
            np.testing.assert_array_equal(a, b)


def test_word_index_and_a_missing_data_file(keras_cache):
    assert imdb.get_word_index() == {"the": 1, "movie": 17}
    (keras_cache / "reuters.npz").unlink()
    with pytest.raises(FileNotFoundError, match=r"reuters.npz.*storage.googleapis.com.*put it at .*reuters.npz"):
        reuters.load_data()
    assert reuters.get_label_names()[:3] == ("cocoa", "grain", "veg-oil")


def test_a_data_file_with_code_in_its_pickles_is_refused(keras_cache):
    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    evil = np.empty(1, dtype=object)
    evil[0] = Boom()
    np.savez(keras_cache / "imdb.npz", x_train=evil, y_train=np.zeros(1), x_test=evil, y_test=np.zeros(1))
    with pytest.raises(ValueError, match="refused posix.system|refused nt.system"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imdb.load_data()


# ---- Keras 2's model methods ---------------------------------------------------------------------

def _model(units=3, activation="softmax"):
    model = Sequential([L.Input(shape=(5, 2)), L.LSTM(4), L.Dense(units, activation=activation)])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy" if units > 1 else "binary_crossentropy",
                  metrics=["acc"])
    return model


def test_predict_classes_and_proba_as_keras_2_with_its_warnings():
    x = rng.normal(size=(9, 5, 2)).astype("float32")
    model = _model()
    with pytest.warns(UserWarning, match=r"`model.predict_classes\(\)` is deprecated"):
        classes = model.predict_classes(x)
    np.testing.assert_array_equal(classes, model.predict(x).argmax(-1))
    binary = _model(1, "sigmoid")
    with pytest.warns(UserWarning, match="predict_classes"):
        got = binary.predict_classes(x)
    assert got.dtype == np.int32 and got.shape == (9, 1)
    np.testing.assert_array_equal(got, (binary.predict(x) > 0.5).astype("int32"))
    with pytest.warns(UserWarning, match=r"`model.predict_proba\(\)` is deprecated"):
        np.testing.assert_array_equal(model.predict_proba(x), model.predict(x))


def test_fit_generator_trains_as_fit_does_on_the_same_batches():
    x = rng.normal(size=(32, 5, 2)).astype("float32")
    y = rng.integers(0, 3, 32)
    vx, vy = x[:8], y[:8]

    def batches():
        while True:
            for start in range(0, 32, 8):
                yield x[start:start + 8], y[start:start + 8]

    torch.manual_seed(5)
    a = _model()
    torch.manual_seed(5)
    b = _model()
    with pytest.warns(UserWarning, match=r"`Model.fit_generator` is deprecated.*Please use `Model.fit`"):
        ha = a.fit_generator(batches(), steps_per_epoch=4, epochs=3, validation_data=(vx, vy), verbose=0)
    hb = b.fit(x, y, batch_size=8, epochs=3, shuffle=False, validation_data=(vx, vy), verbose=0)
    assert set(ha.history) == {"loss", "acc", "val_loss", "val_acc"}
    for key in ha.history:
        np.testing.assert_allclose(ha.history[key], hb.history[key], rtol=1e-5)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, atol=1e-6)
    with pytest.warns(UserWarning, match="evaluate_generator"):
        loss, acc = a.evaluate_generator(batches(), steps=4)
    np.testing.assert_allclose([loss, acc], a.evaluate(x, y, batch_size=8, verbose=0), rtol=1e-5)
    with pytest.warns(UserWarning, match="predict_generator"):
        p = a.predict_generator((x[s:s + 8] for s in range(0, 32, 8)), steps=4)
    np.testing.assert_allclose(p, a.predict(x), atol=1e-6)


def test_a_sequence_is_read_by_index_and_told_each_epoch_end():
    x = rng.normal(size=(24, 5, 2)).astype("float32")
    y = rng.integers(0, 3, 24)

    class Batches(lstmkit.utils.Sequence):
        def __init__(self):
            super().__init__(workers=2)
            self.ends, self.read = 0, []

        def __len__(self):
            return 3

        def __getitem__(self, i):
            self.read.append(i)
            return x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8]

        def on_epoch_end(self):
            self.ends += 1

    data = Batches()
    model = _model()
    history = model.fit(data, epochs=2, verbose=0, validation_data=Batches(), validation_steps=2)
    assert data.ends == 2 and data.read == [0, 1, 2, 0, 1, 2]
    assert len(history.history["val_acc"]) == 2
    assert model.predict(Batches()).shape == (24, 3)


# ---- a Keras program's own layer ------------------------------------------------------------------

def attention_class(base, tanh, matmul, squeeze, softmax, expand_dims, reduce_sum):
    """A Keras-style attention layer as blog programs write it (add_weight in build, call(self, x),
    no compute_output_shape), over either library's base class and tensor functions."""

    class Attention(base):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)

        def build(self, input_shape):
            self.W = self.add_weight(name="att_weight", shape=(input_shape[-1], 1), initializer="glorot_uniform")
            self.b = self.add_weight(shape=(input_shape[1], 1), initializer="zeros", name="att_bias")
            super().build(input_shape)

        def call(self, x):
            e = squeeze(tanh(matmul(x, self.W) + self.b), -1)
            alpha = expand_dims(softmax(e), -1)
            return reduce_sum(x * alpha, 1)

    return Attention


def test_a_user_s_keras_layer_with_add_weight_runs_as_in_keras(tmp_path):
    ops = keras.ops
    TheirAttention = attention_class(keras.layers.Layer, ops.tanh, ops.matmul, ops.squeeze, ops.softmax,
                                     ops.expand_dims, lambda t, a: ops.sum(t, axis=a))
    OurAttention = attention_class(L.Layer, K.tanh, K.dot, K.squeeze, K.softmax, K.expand_dims,
                                   lambda t, a: K.sum(t, axis=a))

    def build(layers, Model, Attention):
        inputs = layers.Input(shape=(7, 3))
        return Model(inputs, layers.Dense(2)(Attention()(layers.LSTM(5, return_sequences=True)(inputs))))

    theirs = build(keras.layers, keras.Model, TheirAttention)
    ours = build(L, lstmkit.Model, OurAttention)
    assert ours.layers[2].output.shape == (None, 5)  # found by running the layer, as Keras 3 finds it
    theirs.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    x = rng.normal(size=(4, 7, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), atol=1e-5, rtol=0)
    assert [w.shape for w in ours.layers[2].get_weights()] == [(5, 1), (7, 1)]
    assert sorted(ours.layers[2].state_dict()) == ["att_bias", "att_weight"]  # registered once, under its name
    ours.compile("adam", "mse")
    ours.fit(x, np.zeros((4, 2), "float32"), epochs=1, verbose=0)
    ours.save(tmp_path / "att.lstmkit")
    back = lstmkit.models.load_model(tmp_path / "att.lstmkit", custom_objects={"Attention": OurAttention})
    np.testing.assert_allclose(back.predict(x), ours.predict(x), atol=1e-6)


def test_history_answers_to_both_names_of_accuracy():
    x = rng.normal(size=(12, 5, 2)).astype("float32")
    y = rng.integers(0, 3, 12)
    history = _model().fit(x, y, epochs=2, validation_data=(x, y), verbose=0)  # metrics=["acc"]
    assert history.history["accuracy"] is history.history["acc"] and len(history.history["val_accuracy"]) == 2
    with pytest.raises(KeyError):
        history.history["precision"]
    model = _model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert model.fit(x, y, epochs=1, verbose=0).history["acc"] == model.history.history["accuracy"]


def test_plot_model_draws_every_layer_and_tensorboard_never_stops_a_run(tmp_path):
    inputs = L.Input(shape=(5, 2))
    a = L.LSTM(4, return_sequences=True)(inputs)
    model = lstmkit.Model(inputs, L.Dense(1)(L.concatenate([L.GlobalMaxPooling1D()(a), L.LSTM(3)(a)])))
    path = lstmkit.utils.plot_model(model, to_file=str(tmp_path / "model.png"), show_shapes=True)
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    stack = Sequential([L.Input(shape=(5, 2)), L.LSTM(3), L.Dense(1)])
    assert lstmkit.utils.plot_model(stack, to_file=str(tmp_path / "stack.png")).endswith("stack.png")
    stack.compile("sgd", "mse")
    board = lstmkit.callbacks.TensorBoard(log_dir=str(tmp_path / "logs"), histogram_freq=1)
    try:
        import tensorboard  # noqa: F401
        expected_warning = None
    except ImportError:
        expected_warning = RuntimeWarning
    x, y = rng.normal(size=(8, 5, 2)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")
    if expected_warning is None:
        history = stack.fit(x, y, epochs=2, verbose=0, callbacks=[board])
        assert any((tmp_path / "logs").iterdir())
    else:
        with pytest.warns(RuntimeWarning, match="tensorboard package is not installed"):
            history = stack.fit(x, y, epochs=2, verbose=0, callbacks=[board])
    assert len(history.history["loss"]) == 2


def test_ops_for_a_keras_3_program_s_own_code_match_keras_ops():
    import lstmkit.compat.ops as ops

    x = rng.normal(size=(3, 4, 5)).astype("float32")
    t = torch.as_tensor(x)
    pairs = [
        (ops.mean(t, axis=1), keras.ops.mean(x, axis=1)), (ops.transpose(t, (0, 2, 1)), keras.ops.transpose(x, (0, 2, 1))),
        (ops.matmul(t, t.transpose(1, 2)), keras.ops.matmul(x, x.transpose(0, 2, 1))),
        (ops.logsumexp(t, axis=-1), keras.ops.logsumexp(x, axis=-1)), (ops.cumsum(t, axis=1), keras.ops.cumsum(x, axis=1)),
        (ops.one_hot(torch.tensor([0, 2]), 3), keras.ops.one_hot(np.array([0, 2]), 3)),
        (ops.where(t > 0, t, 0.0 * t), keras.ops.where(x > 0, x, 0.0 * x)), (ops.expand_dims(t, 1), keras.ops.expand_dims(x, 1)),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(np.asarray(ours), keras.ops.convert_to_numpy(theirs), rtol=1e-5, atol=1e-6)
    with pytest.raises(AttributeError, match="keras.ops.no_such_op"):
        ops.no_such_op


def test_fashion_mnist_and_boston_housing_match_keras_s_loaders(tmp_path, monkeypatch):
    import gzip
    import pickle

    import keras.src.datasets.boston_housing as keras_boston
    import keras.src.datasets.fashion_mnist as keras_fashion

    from lstmkit.datasets import boston_housing, cifar10, fashion_mnist

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    folder = tmp_path / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    images = {"train": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), "t10k": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)}
    for part, x in images.items():
        with gzip.open(folder / f"{part}-images-idx3-ubyte.gz", "wb") as f:
            f.write(b"\0" * 16 + x.tobytes())
        with gzip.open(folder / f"{part}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(b"\0" * 8 + rng.integers(0, 10, len(x), dtype=np.uint8).tobytes())
    np.savez(tmp_path / "datasets" / "boston_housing.npz", x=rng.normal(size=(30, 13)), y=rng.normal(size=30))

    def cached(fname=None, origin=None, cache_subdir="datasets", **kwargs):
        return str(tmp_path / cache_subdir / fname)

    monkeypatch.setattr(keras_fashion, "get_file", cached)
    monkeypatch.setattr(keras_boston, "get_file", cached)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stand-in files, not the published hashes
        for ours, theirs in ((fashion_mnist.load_data(), keras.datasets.fashion_mnist.load_data()),
                             (boston_housing.load_data(test_split=0.3, seed=5),
                              keras.datasets.boston_housing.load_data(test_split=0.3, seed=5))):
            for a, b in zip([*ours[0], *ours[1]], [*theirs[0], *theirs[1]]):
                assert a.dtype == b.dtype
                np.testing.assert_array_equal(a, b)
    # CIFAR-10: Keras's archive layout, batches pickled as Python 2 pickled them (bytes keys)
    batches = {name: (rng.integers(0, 256, (3, 3072), dtype=np.uint8), rng.integers(0, 10, 3).tolist())
               for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]}
    archive = tmp_path / "datasets" / "cifar-10-batches-py-target_archive"
    with tarfile.open(archive, "w:gz") as tar:
        for name, (data, labels) in batches.items():
            payload = pickle.dumps({b"data": data, b"labels": labels, b"batch_label": b"x"}, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    assert x_train.shape == (15, 32, 32, 3) and y_train.shape == (15, 1) and x_test.shape == (3, 32, 32, 3)
    np.testing.assert_array_equal(x_train[3], batches["data_batch_2"][0][0].reshape(3, 32, 32).transpose(1, 2, 0))
    assert y_test[:, 0].tolist() == batches["test_batch"][1]


def test_a_subclassed_model_trains_predicts_and_carries_masks_as_keras_does(tmp_path):
    def define(base, layers, keras_backend):
        class Classifier(base):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.embed = layers.Embedding(30, 4, mask_zero=True)
                self.lstm = layers.LSTM(5)
                self.out = layers.Dense(2, activation="softmax")

            def call(self, inputs, training=False):
                return self.out(self.lstm(self.embed(inputs)))

        return Classifier

    Theirs, Ours = define(keras.Model, keras.layers, None), define(lstmkit.Model, L, None)
    ids = rng.integers(1, 30, (6, 7))
    ids[2, 4:] = 0  # padding: masked steps, which the LSTM must skip in both
    theirs, ours = Theirs(), Ours()
    theirs.predict(ids, verbose=0)
    ours.predict(ids)
    assert ours.built and [type(layer).__name__ for layer in ours.layers] == ["Embedding", "LSTM", "Dense"]
    theirs.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours.predict(ids), theirs.predict(ids, verbose=0), atol=1e-5, rtol=0)
    ours.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = ours.fit(ids, rng.integers(0, 2, 6), epochs=2, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    ours.save_weights(tmp_path / "w.lstmkit")
    again = Ours()
    again.predict(ids[:1])
    again.load_weights(tmp_path / "w.lstmkit")
    np.testing.assert_allclose(again.predict(ids), ours.predict(ids), atol=0, rtol=0)
    with pytest.raises(ValueError, match="save_weights"):
        ours.save(tmp_path / "m.lstmkit")


def test_keras_2_layer_shapes_are_read_from_built_layers():
    stack = Sequential([L.LSTM(4, input_shape=(5, 3), return_sequences=True), L.LSTM(2), L.Dense(1)])
    theirs = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4, return_sequences=True), keras.layers.LSTM(2),
                               keras.layers.Dense(1)])
    assert [layer.output_shape for layer in stack.layers] == [tuple(layer.output.shape) for layer in theirs.layers]
    assert stack.layers[1].input_shape == (None, 5, 4)
    assert not hasattr(L.Dense(3), "output_shape")  # not built: no shape yet, as in Keras
