"""Careless input that once reached torch (or Python) raw: each is now accepted as a user means it,
or refused with an error that names the argument, the file or the value."""

import numpy as np
import pytest

from lstmkit import callbacks, cli
from lstmkit.compat.programs import run_program
from lstmkit.layers import LSTM, Dense, Embedding
from lstmkit.models import Sequential
from lstmkit.preprocessing.text import Tokenizer
from lstmkit.recipes import sentiment
from lstmkit.utils import set_random_seed

rng = np.random.default_rng(6)
x = rng.normal(size=(40, 5, 3)).astype("float32")
y = rng.integers(0, 2, size=40)


def model():
    set_random_seed(0)
    m = Sequential([LSTM(4, input_shape=(5, 3)), Dense(2, activation="softmax")])
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return m


def test_sample_weight_of_the_wrong_shape_is_named_and_trains_nothing():
    m = model()
    before = m.get_weights()
    with pytest.raises(ValueError, match=r"sample_weight of shape \(32, 7\).*one weight per sample"):
        m.fit(x, y, sample_weight=np.ones((40, 7)), verbose=0)
    for a, b in zip(m.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_predict_steps_must_be_positive():
    with pytest.raises(ValueError, match="steps=0"):
        model().predict(x, steps=0)


def test_numpy_scalars_are_numbers():
    m = model()
    history = m.fit(x, y, validation_split=np.float32(0.25), epochs=np.int64(2), batch_size=np.int32(8), verbose=0)
    assert len(history.history["val_loss"]) == 2


@pytest.mark.parametrize("view", ["reversed", "big-endian", "big-endian and reversed"])
def test_reversed_and_big_endian_arrays_are_copied_not_refused(view):
    m = model()
    expected = m.predict(x)
    changed = {"reversed": lambda a: a[::-1], "big-endian": lambda a: a.astype(a.dtype.newbyteorder(">")),
               "big-endian and reversed": lambda a: a.astype(a.dtype.newbyteorder(">"))[::-1]}[view]
    got = m.predict(changed(x))
    np.testing.assert_array_equal(got, expected if view == "big-endian" else expected[::-1])
    m.fit(changed(x), changed(y), epochs=1, verbose=0)  # labels too


@pytest.mark.parametrize("value,match", [(object(), "callbacks=<object"), ("EarlyStopping", "callbacks='EarlyStopping'"),
                                         ([callbacks.History(), 3], r"callbacks\[1\]=3")])
def test_callbacks_that_are_not_callbacks_are_named(value, match):
    with pytest.raises(TypeError, match=match):
        model().fit(x, y, callbacks=value, verbose=0)


def test_one_callback_alone_is_taken_as_keras_takes_it():
    seen = []
    model().fit(x, y, epochs=2, verbose=0, callbacks=callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(e)))
    assert seen == [0, 1]


@pytest.mark.parametrize("weight", [float("nan"), float("inf"), -1.0, "2"])
def test_class_weights_must_be_finite_and_not_negative(weight):
    with pytest.raises(ValueError, match=r"class_weight\[0\]="):
        model().fit(x, y, class_weight={0: weight, 1: 1.0}, verbose=0)


def test_a_uint64_label_beyond_int64_is_shown_as_it_is():
    with pytest.raises(ValueError, match="y holds the value 18446744073709551615"):
        model().fit(x, np.full(40, 2**64 - 1, dtype=np.uint64), verbose=0)


def test_a_program_that_is_not_utf8_is_refused_by_name(tmp_path, capsys):
    program = tmp_path / "latin.py"
    program.write_bytes('print("h\xe9llo")\n'.encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin.py' cannot be read as Python source.*coding: latin-1"):
        run_program(program)
    with pytest.raises(SystemExit):
        cli.main(["run", str(program)])
    program.write_bytes('# -*- coding: latin-1 -*-\nprint("h\xe9llo")\n'.encode("latin-1"))
    capsys.readouterr()
    run_program(program)
    assert capsys.readouterr().out == "héllo\n"


def sentiment_file(tmp_path, maxlen, steps=6):
    tokenizer = Tokenizer(num_words=20)
    tokenizer.fit_on_texts(["a good film", "a bad film"])
    m = Sequential([Embedding(20, 3, input_length=steps, mask_zero=True), LSTM(2), Dense(1, activation="sigmoid")])
    m.predict(np.zeros((1, steps), dtype="int64"))  # builds it
    path = tmp_path / "s.lstmkit"
    extras = {"recipe": sentiment.RECIPE, "tokenizer": tokenizer.to_json()}
    if maxlen != "missing":
        extras["maxlen"] = maxlen
    m.save(path, extras=extras)
    return path


@pytest.mark.parametrize("maxlen", ["missing", "6", 6.5, True, 0, -3, 10**10, 7])
def test_a_sentiment_file_with_a_bad_maxlen_is_refused_by_name(tmp_path, maxlen, capsys):
    path = sentiment_file(tmp_path, maxlen)
    shown = "None" if maxlen == "missing" else repr(maxlen)
    with pytest.raises(ValueError, match=rf"s.lstmkit' holds maxlen={shown} .*expected the model's 6 input steps"):
        sentiment.load(path)
    with pytest.raises(SystemExit):
        cli.main(["predict", str(path), "a good film"])
    assert "holds maxlen" in capsys.readouterr().err


def test_a_sentiment_file_with_its_maxlen_predicts(tmp_path):
    model, tokenizer, maxlen = sentiment.load(sentiment_file(tmp_path, 6))
    assert maxlen == 6 and sentiment.predict(model, tokenizer, maxlen, ["a good film"]).shape == (1,)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_mnist_on_a_device_this_torch_lacks_is_refused_by_name(capsys):
    for device, words in (("cuda", "--device asks for cuda, but torch sees no CUDA device"),
                          ("tpu", "--device must be 'auto', 'cpu', 'cuda' or 'cuda:N' (any torch device), got 'tpu'")):
        with pytest.raises(SystemExit):
            cli.main(["mnist", "--device", device, "--limit", "10"])
        assert words in capsys.readouterr().err


def test_the_mnist_recipe_trains_where_it_is_told(capsys):
    from lstmkit.recipes import mnist

    model, result = mnist.run(epochs=1, limit=64, batch_size=32, verbose=0, device="cpu")
    assert all(p.device.type == "cpu" for p in model.parameters()) and len(result.epoch_seconds) == 1
