"""The Reuters newswire topics data set (11,228 wires, 46 topics), as Keras's
`keras.datasets.reuters` gives it, read from Keras's own `reuters.npz` in its cache
(`~/.keras/datasets/` or `$KERAS_HOME/datasets/`); not shipped and never downloaded (the error
says where to put the file). Source: the Reuters-21578 collection, as preprocessed by Keras.
"""

from __future__ import annotations


import numpy as np

from . import word_sequences as ws
from .cache import get_file

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee", "sugar",
    "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp",
    "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi", "iron-steel",
    "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)


def load_data(
    path: str = "reuters.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    test_split: float = 0.2,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """`(x_train, y_train), (x_test, y_test)`: wires as object arrays of lists of word ids and
    topic ids 0-45; the arguments as in `lstmkit.datasets.imdb.load_data`, and `test_split`, the
    fraction (of the shuffled wires, from the end) held out for testing."""
    file = get_file(path, origin=ORIGIN + "reuters.npz",
                    file_hash="d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916")
    xs, labels = ws.need(ws.load_npz(file), ["x", "y"], file)
    xs, labels = ws.shuffled(np.random.RandomState(seed), xs, labels)
    texts, kept = ws.shorter_than(maxlen, ws.shifted(xs, start_char, index_from), labels)
    texts = ws.vocabulary_cut(texts, num_words, skip_top, oov_char)
    n = int(len(texts) * (1 - test_split))
    return ((ws.as_object_array(texts[:n]), np.array(kept[:n])), (ws.as_object_array(texts[n:]), np.array(kept[n:])))


def get_word_index(path: str = "reuters_word_index.json") -> dict[str, int]:
    """{word: frequency rank} from Keras's `reuters_word_index.json` in its cache."""
    file = get_file(path, origin=ORIGIN + "reuters_word_index.json", file_hash="4d44cc38712099c9e383dc6e5f11a921")
    return ws.word_index(file)


def get_label_names() -> tuple[str, ...]:
    """The 46 topics' names, by topic id."""
    return LABEL_NAMES
