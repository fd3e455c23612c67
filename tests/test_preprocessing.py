"""Preprocessing against Keras (pad_sequences: Keras 3's own function as the oracle) and against
hand-derived results of Keras 2's documented Tokenizer rules."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmkit.preprocessing.sequence import pad_sequences
from lstmkit.preprocessing.text import CharVocabulary, Tokenizer, char_windows, text_to_word_sequence
from lstmkit.preprocessing.timeseries import MinMaxScaler, windows

keras_utils = pytest.importorskip("keras.utils")


@settings(max_examples=60, deadline=None)
@given(
    seqs=st.lists(st.lists(st.integers(1, 50), max_size=7), min_size=1, max_size=6),
    maxlen=st.one_of(st.none(), st.integers(1, 9)),  # Keras 3.15 itself fails on maxlen=0
    padding=st.sampled_from(["pre", "post"]),
    truncating=st.sampled_from(["pre", "post"]),
    value=st.sampled_from([0.0, -1.0, 7.0]),
)
def test_pad_sequences_matches_keras(seqs, maxlen, padding, truncating, value):
    ours = pad_sequences(seqs, maxlen=maxlen, padding=padding, truncating=truncating, value=value)
    theirs = keras_utils.pad_sequences(seqs, maxlen=maxlen, padding=padding, truncating=truncating, value=value)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


def test_pad_sequences_maxlen_zero_gives_empty_rows():
    assert pad_sequences([[1, 2], []], maxlen=0).shape == (2, 0)


def test_pad_sequences_float_dtype_and_vectors_match_keras():
    seqs = [[[1.5, 2.0], [3.0, 4.0]], [[5.0, 6.0]]]
    for kwargs in ({"dtype": "float32"}, {"dtype": "float32", "maxlen": 3, "padding": "post", "value": 0.5}):
        np.testing.assert_array_equal(pad_sequences(seqs, **kwargs), keras_utils.pad_sequences(seqs, **kwargs))


@pytest.mark.parametrize("kwargs,name", [({"padding": "middle"}, "padding"), ({"truncating": "both"}, "truncating"),
                                         ({"maxlen": -1}, "maxlen")])
def test_pad_sequences_bad_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        pad_sequences([[1, 2]], **kwargs)


def test_tokenizer_ranks_by_count_then_first_appearance():
    t = Tokenizer()
    t.fit_on_texts(["The cat sat on the mat.", "The dog sat!"])
    # counts: the 3, sat 2, cat 1, on 1, mat 1, dog 1 (ties in order of first appearance)
    assert t.word_index == {"the": 1, "sat": 2, "cat": 3, "on": 4, "mat": 5, "dog": 6}
    assert t.word_counts["the"] == 3 and t.document_count == 2 and t.word_docs["sat"] == 2
    assert t.texts_to_sequences(["the dog ate the cat"]) == [[1, 6, 1, 3]]  # unseen "ate" dropped


def test_tokenizer_num_words_and_oov():
    t = Tokenizer(num_words=3)
    t.fit_on_texts(["a a a b b c"])
    assert t.texts_to_sequences(["a b c d"]) == [[1, 2]]  # indices >= num_words dropped
    t = Tokenizer(num_words=3, oov_token="OOV")
    t.fit_on_texts(["a a a b b c"])
    assert t.word_index["OOV"] == 1 and t.word_index["a"] == 2
    assert t.texts_to_sequences(["a b c d"]) == [[2, 1, 1, 1]]
    assert t.sequences_to_texts([[2, 1]]) == ["a OOV"]


def test_tokenizer_bad_input():
    with pytest.raises(ValueError, match="num_words"):
        Tokenizer(num_words=0)
    with pytest.raises(ValueError, match="list of strings"):
        Tokenizer().fit_on_texts("one string")


def test_text_to_word_sequence_filters_and_lowers():
    assert text_to_word_sequence("Hello, World!\tIt's\nfine") == ["hello", "world", "it's", "fine"]


def test_char_vocabulary_round_trip_and_windows():
    text = "to be or not to be"
    v = CharVocabulary(text)
    assert v.size == len(set(text))
    assert v.decode(v.encode(text)) == text
    x, y = char_windows(v.encode(text), length=5, step=3)
    for row, nxt, start in zip(x, y, range(0, len(text) - 5, 3)):
        assert v.decode(row) == text[start:start + 5] and v.decode([nxt]) == text[start + 5]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        v.encode("xyz")
    with pytest.raises(ValueError, match="too short"):
        char_windows(v.encode("to be"), length=10)


def test_series_windows_and_scaler_fitted_on_training_part():
    series = np.array([3.0, 5.0, 4.0, 8.0, 10.0, 12.0])
    train = series[:4]
    s = MinMaxScaler().fit(train)
    scaled = s.transform(series)
    assert scaled[:4].min() == 0.0 and scaled[:4].max() == 1.0 and scaled[-1] == pytest.approx((12 - 3) / 5)
    np.testing.assert_allclose(s.inverse(scaled), series)
    x, y = windows(series, lookback=2, horizon=1)
    assert x.shape == (4, 2, 1) and y.shape == (4, 1)
    np.testing.assert_array_equal(x[2, :, 0], series[2:4])
    assert y[2, 0] == series[4]
    with pytest.raises(RuntimeError, match="not fitted"):
        MinMaxScaler().transform(series)
    with pytest.raises(ValueError, match="lookback"):
        windows(series, lookback=6)


@pytest.mark.parametrize("kwargs", [dict(length=5, batch_size=4), dict(length=4, sampling_rate=2, stride=3, batch_size=3),
                                    dict(length=3, start_index=4, end_index=30, reverse=True, batch_size=5),
                                    dict(length=10, batch_size=128)])
def test_timeseries_generator_matches_keras_s(kwargs):
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    from keras.src.legacy.preprocessing.sequence import TimeseriesGenerator as KerasGenerator

    from lstmkit.preprocessing.sequence import TimeseriesGenerator

    data = np.arange(80, dtype="float32").reshape(40, 2)
    targets = np.arange(40) * 10
    ours, theirs = TimeseriesGenerator(data, targets, **kwargs), KerasGenerator(data, targets, **kwargs)
    assert len(ours) == len(theirs) > 0
    for i in range(len(ours)):
        for a, b in zip(ours[i], theirs[i]):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="past end_index"):
        TimeseriesGenerator(data, targets, length=50)


def test_timeseries_dataset_windows_start_where_their_target_is():
    from lstmkit.utils import timeseries_dataset_from_array

    data = np.arange(100)
    # the Keras documentation's example: every other step, 10 to a window; the target 20 steps on
    ds = timeseries_dataset_from_array(data[:-20], data[20:], sequence_length=10, sampling_rate=2, batch_size=32)
    x, y = next(iter(ds.take(1)))
    assert x[0].tolist() == list(range(0, 20, 2)) and y[0] == 20
    assert x[-1].tolist() == list(range(31, 51, 2)) and y[-1] == 51
    count = 80 - 9 * 2
    assert sum(len(b[0]) for b in ds) == count and len(ds) == 2
    # batch_size=None: single windows (Keras: "the data will not be batched")
    unsupervised = list(timeseries_dataset_from_array(data, None, sequence_length=5, sequence_stride=10, batch_size=None))
    assert len(unsupervised) == 10 and unsupervised[1].tolist() == [10, 11, 12, 13, 14]


def test_hashing_trick_and_one_hot_as_keras_2():
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    from keras.src.legacy.preprocessing import text as keras_text

    from lstmkit.preprocessing.text import hashing_trick, one_hot

    sentence = "The cat sat on the mat, and the cat slept."
    assert hashing_trick(sentence, 50, "md5") == keras_text.hashing_trick(sentence, 50, "md5")
    assert one_hot(sentence, 30) == keras_text.one_hot(sentence, 30)  # Python's hash, this process's seed
    assert all(1 <= i < 30 for i in one_hot(sentence, 30))
    with pytest.raises(ValueError, match="n must be"):
        one_hot(sentence, 1)
