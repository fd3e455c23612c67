"""The text and sentiment recipes on small data, end to end: they learn what is learnable, their
baselines are recomputed here, saved files carry the vocabulary/tokenizer, sampling with a seed
repeats, and the commands write their files and name bad input."""

import math

import numpy as np
import pytest
import torch

from lstmkit import cli
from lstmkit.datasets import movie_reviews
from lstmkit.layers import Dense
from lstmkit.models import Sequential, load_extras
from lstmkit.preprocessing.text import CharVocabulary, OneHotCharWindows, Tokenizer, char_windows, tokenizer_from_json
from lstmkit.recipes import sentiment, text
from lstmkit.utils import set_random_seed
from test_forecast_and_plots import png_size

# A text whose next character is fixed by the one before it ('a' -> 'b' -> 'c' -> 'a'), except
# after a space: a model that reads context can reach ~0 bits there, the unigram model cannot.
PERIODIC = "abc" * 2000


@pytest.fixture(scope="module")
def periodic_corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "abc.txt"
    path.write_text(PERIODIC, encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def trained_periodic(periodic_corpus):
    set_random_seed(0)
    return text.train(periodic_corpus, chars=None, length=12, units=16, epochs=3, steps_per_epoch=40,
                      batch_size=32, learning_rate=0.02, verbose=0)


def test_one_hot_windows_match_char_windows():
    codes = np.array([3, 0, 2, 2, 1, 0, 3, 1, 2])
    x, y = char_windows(codes, length=3, step=2)
    data = OneHotCharWindows(codes, length=3, vocabulary_size=4, step=2)
    assert len(data) == len(x)
    for i in range(len(data)):
        xi, yi = data[i]
        assert xi.shape == (3, 4) and xi.sum().item() == 3
        assert xi.argmax(-1).tolist() == x[i].tolist() and int(yi) == y[i]
    with pytest.raises(IndexError):
        data[len(data)]
    with pytest.raises(ValueError, match="vocabulary_size=3"):
        OneHotCharWindows(codes, length=3, vocabulary_size=3)
    with pytest.raises(ValueError, match="length=0"):
        OneHotCharWindows(codes, length=0, vocabulary_size=4)


def test_unigram_bits():
    assert text.unigram_bits(np.array([0, 0, 1, 1]), 3) == pytest.approx(1.0)
    assert text.unigram_bits(np.array([0, 1, 2, 3] * 5), 4) == pytest.approx(2.0)
    assert text.unigram_bits(np.array([2, 2, 2]), 4) == pytest.approx(0.0)


def test_text_model_learns_a_predictable_text(trained_periodic):
    model, res = trained_periodic
    assert res.vocabulary.chars == ["a", "b", "c"]
    assert res.unigram_bits == pytest.approx(math.log2(3), abs=1e-3)  # three letters, equally often
    assert res.train_chars == 5400 and res.validation_chars == 600
    assert len(res.history["loss"]) == 3 and len(res.history["val_loss"]) == 3
    assert res.bits_per_char == pytest.approx(res.history["val_loss"][-1] / math.log(2))
    assert res.bits_per_char < 0.2, res.history  # the context decides the next letter
    # The validation loss, recomputed from the model's own probabilities on windows of the tail.
    codes = res.vocabulary.encode(PERIODIC[5400:])
    x, y = char_windows(codes, 12, step=1)
    p = model.predict(torch.nn.functional.one_hot(torch.as_tensor(x), 3).float().numpy())
    assert -np.mean(np.log2(p[np.arange(len(y)), y])) == pytest.approx(res.bits_per_char, abs=0.02)


def test_generate_is_reproducible_and_follows_the_model(trained_periodic):
    model, res = trained_periodic
    a = text.generate(model, res.vocabulary, "ab", length=30, temperature=1.0, seed=5, window=12)
    b = text.generate(model, res.vocabulary, "ab", length=30, temperature=1.0, seed=5, window=12)
    assert a == b and len(a) == 30 and set(a) <= {"a", "b", "c"}
    # A trained model is nearly certain here, and a low temperature makes it the most likely letter.
    assert text.generate(model, res.vocabulary, "ab", length=9, temperature=0.1, seed=1, window=12) == "cabcabcab"


def test_generate_with_temperature_draws_from_the_sharpened_probabilities():
    # Zero output weights: whatever the LSTM reads, the softmax of the bias, (0.6, 0.3, 0.1), comes out.
    set_random_seed(0)
    model = text.build_model(3, units=4)
    dense = model.layers[-1]
    assert isinstance(dense, Dense)
    with torch.no_grad():
        dense.kernel.zero_()
        dense.bias.copy_(torch.log(torch.tensor([0.6, 0.3, 0.1])))
    vocabulary = CharVocabulary("abc")
    sample = text.generate(model, vocabulary, "a", length=6000, temperature=0.5, seed=0)
    freq = np.array([sample.count(c) for c in "abc"]) / len(sample)
    sharpened = np.array([0.6, 0.3, 0.1]) ** 2
    np.testing.assert_allclose(freq, sharpened / sharpened.sum(), atol=0.02)


def test_text_save_and_load_keep_vocabulary_and_samples(trained_periodic, tmp_path):
    model, res = trained_periodic
    path = tmp_path / "t.lstmkit"
    text.save(model, res.vocabulary, path, length=12)
    loaded, vocabulary, length = text.load(path)
    assert vocabulary.chars == res.vocabulary.chars and length == 12
    assert text.generate(loaded, vocabulary, "ca", length=25, seed=2, window=length) == text.generate(
        model, res.vocabulary, "ca", length=25, seed=2, window=12)


@pytest.mark.parametrize("kwargs,name", [
    ({"prompt": ""}, "prompt"), ({"prompt": "abz"}, "'z'"), ({"temperature": 0}, "temperature"),
    ({"length": 0}, "length"),
])
def test_generate_names_bad_arguments(trained_periodic, kwargs, name):
    model, res = trained_periodic
    with pytest.raises(ValueError, match=name):
        text.generate(model, res.vocabulary, **{"prompt": "ab", "length": 3, **kwargs})


@pytest.mark.parametrize("kwargs,name", [
    ({"corpus": "no-such-file.txt"}, "no such file"), ({"length": 0}, "length=0"), ({"chars": 300}, "too short"),
    ({"learning_rate": -1.0}, "learning_rate"),
])
def test_text_train_names_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        text.train(**{"epochs": 1, "steps_per_epoch": 1, "verbose": 0, **kwargs})


def test_text_and_generate_commands(periodic_corpus, tmp_path, capsys):
    model_path, curves = tmp_path / "m.lstmkit", tmp_path / "c.png"
    assert cli.main(["text", "--corpus", periodic_corpus, "--length", "10", "--units", "8", "--epochs", "2",
                     "--steps-per-epoch", "3", "--batch-size", "16", "--seed", "0", "--verbose", "0",
                     "--save", str(model_path), "--plot", str(curves)]) == 0
    out = capsys.readouterr().out
    assert "bits per character" in out and "unigram entropy of the training text 1.585" in out
    assert load_extras(model_path)["chars"] == ["a", "b", "c"]
    width, height = png_size(curves)
    assert width >= 400 and height >= 300
    runs = []
    for _ in range(2):
        assert cli.main(["generate", str(model_path), "--prompt", "abca", "--length", "40", "--seed", "7"]) == 0
        runs.append(capsys.readouterr().out)
    assert runs[0] == runs[1] and runs[0].startswith("abca") and len(runs[0].strip()) == 44
    with pytest.raises(SystemExit):
        cli.main(["generate", str(model_path), "--prompt", "xyz"])
    assert "never saw" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["generate", str(model_path), "--prompt", "ab", "--temperature", "0"])
    assert "temperature" in capsys.readouterr().err


def test_recipe_files_are_told_apart(trained_periodic, tmp_path):
    model, res = trained_periodic
    text_file, plain_file = tmp_path / "t.lstmkit", tmp_path / "plain.lstmkit"
    text.save(model, res.vocabulary, text_file)
    model.save(plain_file)
    assert load_extras(plain_file) == {}
    with pytest.raises(ValueError, match="no sentiment model"):
        sentiment.load(text_file)
    with pytest.raises(ValueError, match="no text model"):
        text.load(plain_file)


def test_save_extras_must_be_json(tmp_path):
    model = Sequential([Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match="JSON"):
        model.save(tmp_path / "m.lstmkit", extras={"f": object()})
    with pytest.raises(ValueError, match="string keys"):
        model.save(tmp_path / "m.lstmkit", extras={1: "x"})


def test_tokenizer_json_round_trip():
    t = Tokenizer(num_words=4, oov_token="<?>")
    t.fit_on_texts(["The film was good, good and long.", "a bad film"])
    back = tokenizer_from_json(t.to_json())
    assert back.word_index == t.word_index and back.word_counts == t.word_counts
    assert back.word_docs == t.word_docs and back.document_count == 2 and back.num_words == 4
    texts = ["good film", "an unseen bad word"]
    assert back.texts_to_sequences(texts) == t.texts_to_sequences(texts)
    with pytest.raises(ValueError, match="json_string"):
        tokenizer_from_json('{"class_name": "Other"}')


@pytest.fixture(scope="module")
def small_sentiment():
    set_random_seed(0)
    return sentiment.train(limit=600, epochs=2, units=8, embedding_dim=8, verbose=0)


def test_sentiment_runs_and_baseline_is_right(small_sentiment):
    model, res = small_sentiment
    assert 0.0 <= res.test_accuracy <= 1.0 and res.epochs_run == 2
    assert set(res.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert 0.3 < res.majority_accuracy < 0.7
    p = sentiment.predict(model, res.tokenizer, res.maxlen, ["a good film", "a bad film"])
    assert p.shape == (2,) and ((p >= 0) & (p <= 1)).all()


@pytest.mark.slow
def test_sentiment_learns_word_polarity():
    """On the whole training set a few epochs must beat the majority class by a wide margin."""
    set_random_seed(0)
    model, res = sentiment.train(epochs=3, patience=3, verbose=0)
    # The majority class of the training labels is negative; on the test labels that scores:
    (_, y_train), (_, y_test) = movie_reviews.load_data()
    assert y_train.mean() < 0.5 and res.majority_accuracy == pytest.approx(np.mean(y_test == 0))
    assert res.test_accuracy > 0.65
    p = sentiment.predict(model, res.tokenizer, res.maxlen,
                          ["a wonderful , moving and beautiful film", "a dull , tedious and stupid mess"])
    assert p[0] > 0.5 > p[1]


def test_sentiment_and_predict_commands(tmp_path, capsys):
    model_path, curves = tmp_path / "s.lstmkit", tmp_path / "c.png"
    assert cli.main(["sentiment", "--limit", "200", "--epochs", "1", "--seed", "0", "--verbose", "0",
                     "--save", str(model_path), "--plot", str(curves)]) == 0
    out = capsys.readouterr().out
    assert "Test accuracy" in out and "majority class" in out
    png_size(curves)
    assert cli.main(["predict", str(model_path), "a fine film", "awful"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[1].endswith("awful")
    assert all(0 <= float(line.split()[0]) <= 1 for line in lines)
    with pytest.raises(SystemExit):
        cli.main(["predict", str(tmp_path / "missing.lstmkit"), "x"])
    assert "missing.lstmkit" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs,name", [({"num_words": 2}, "num_words"), ({"limit": 5}, "limit"),
                                         ({"maxlen": 0}, "maxlen")])
def test_sentiment_names_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        sentiment.train(**{"epochs": 1, "verbose": 0, **kwargs})
