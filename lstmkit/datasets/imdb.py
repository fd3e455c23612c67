"""The IMDB movie-review sentiment data set, as Keras's `keras.datasets.imdb` gives it, read from
Keras's own `imdb.npz` in its cache (`~/.keras/datasets/` or `$KERAS_HOME/datasets/`).

lstmkit does not ship this file (25,000 + 25,000 reviews, 17 MB) nor download it: where it is
missing, `load_data` raises an error that gives the path to put it at and its URL. Source: A. L.
Maas et al., "Learning Word Vectors for Sentiment Analysis" (ACL 2011), as preprocessed by Keras.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import word_sequences as ws
from .cache import get_file

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def load_data(
    path: str = "imdb.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
    **kwargs: Any,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """`(x_train, y_train), (x_test, y_test)`: reviews as object arrays of lists of word ids and
    labels 0 (negative) / 1 (positive), with Keras's arguments and results.

    Args:
        path: The file's name in Keras's cache.
        num_words: Keep the `num_words` most frequent words (ids below it); others become `oov_char`.
        skip_top: Ids below it (the most frequent words) become `oov_char` too.
        maxlen: Drop reviews of `maxlen` ids or more (counting `start_char`).
        seed: The shuffle's seed (train and test are shuffled apart).
        start_char: Id put before each review (None: nothing).
        oov_char: Id for words cut out (None: they are dropped).
        index_from: Word ids are their frequency rank plus this.

    Raises:
        FileNotFoundError: When `imdb.npz` is not in the cache (the message says where to put it).
    """
    if kwargs:
        raise TypeError(f"Unrecognized keyword arguments: {sorted(kwargs)}")
    file = get_file(path, origin=ORIGIN + "imdb.npz",
                    file_hash="69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f")
    x_train, y_train, x_test, y_test = ws.need(ws.load_npz(file), ["x_train", "y_train", "x_test", "y_test"], file)
    rng = np.random.RandomState(seed)  # one generator: the test order follows the training order's draws
    x_train, y_train = ws.shuffled(rng, x_train, y_train)
    x_test, y_test = ws.shuffled(rng, x_test, y_test)
    train, test = ws.shifted(x_train, start_char, index_from), ws.shifted(x_test, start_char, index_from)
    train, train_labels = ws.shorter_than(maxlen, train, y_train)
    test, test_labels = ws.shorter_than(maxlen, test, y_test)
    if maxlen and (not train or not test):
        raise ValueError(f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was kept. Increase maxlen.")
    texts = ws.vocabulary_cut(train + test, num_words, skip_top, oov_char)
    labels = np.concatenate([np.asarray(train_labels, dtype=y_train.dtype), np.asarray(test_labels, dtype=y_test.dtype)])
    n = len(train)
    return (ws.as_object_array(texts[:n]), labels[:n]), (ws.as_object_array(texts[n:]), labels[n:])


def get_word_index(path: str = "imdb_word_index.json") -> dict[str, int]:
    """{word: frequency rank} from Keras's `imdb_word_index.json` in its cache (add `index_from`
    to a rank to get the id `load_data` uses)."""
    file = get_file(path, origin=ORIGIN + "imdb_word_index.json", file_hash="bfafd718b763782e994055a2d397834f")
    return ws.word_index(file)


__all__ = ["load_data", "get_word_index"]
