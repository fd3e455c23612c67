"""Keras's word-index data sets (IMDB, Reuters), read from Keras's own files in its cache.

The `.npz` files hold each text as a list of word ranks (1 = the most frequent word), in numpy
object arrays, which numpy stores pickled. They are read with `_npz.load_npz`,
which rebuilds numpy arrays and Python lists and nothing else, so a crafted file cannot run code.
The functions below do what Keras's `load_data` does to them, step for step: shuffle with one
`np.random.RandomState(seed)`, prepend `start_char`, shift ranks by `index_from`, drop texts of
`maxlen` words or more, and replace ranks outside `[skip_top, num_words)` by `oov_char`.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

import numpy as np

from . import _npz

def load_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The arrays of a `.npz` file by name; object arrays (lists of ids) unpickled safely."""
    return _npz.load_npz(path, objects=True)


MAX_WORD_INDEX_BYTES = 64 << 20  # Keras's IMDB index is 1.6 MB


def word_index(path: str) -> dict[str, int]:
    """{word: rank} from a Keras word-index JSON file, checked to be that and of a bounded size."""
    size = os.path.getsize(path)
    if size > MAX_WORD_INDEX_BYTES:
        raise ValueError(f"{path} holds {size:,} bytes; a word index is a few MB (limit {MAX_WORD_INDEX_BYTES:,})")
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"{path} is not a word index in JSON ({type(err).__name__}: {str(err)[:200]})") from None
    if not isinstance(index, dict) or not all(isinstance(k, str) and type(v) is int for k, v in index.items()):
        raise ValueError(f"{path} is not a word index: expected a JSON object of words to integer ranks")
    return index


def need(arrays: dict[str, np.ndarray], names: Sequence[str], path: str) -> list[np.ndarray]:
    missing = [n for n in names if n not in arrays]
    if missing:
        raise ValueError(f"{path} lacks the arrays {missing} (it has {sorted(arrays)}): not Keras's file")
    return [arrays[n] for n in names]


def shuffled(rng: np.random.RandomState, *arrays: np.ndarray) -> list[np.ndarray]:
    """The arrays in one random order drawn from `rng` (Keras's `np.random.RandomState(seed)`)."""
    order = np.arange(len(arrays[0]))
    rng.shuffle(order)
    return [a[order] for a in arrays]


def shifted(texts: Any, start_char: int | None, index_from: int) -> list[list[int]]:
    if start_char is not None:
        return [[start_char] + [w + index_from for w in x] for x in texts]
    return [[w + index_from for w in x] for x in texts]


def shorter_than(maxlen: int | None, texts: list[list[int]], labels: Any) -> tuple[list[list[int]], list[Any]]:
    """The texts of fewer than `maxlen` words and their labels (all of them for no maxlen)."""
    if not maxlen:
        return texts, list(labels)
    kept = [(x, y) for x, y in zip(texts, labels) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def vocabulary_cut(texts: list[list[int]], num_words: int | None, skip_top: int, oov_char: int | None) -> list[list[int]]:
    """Ranks outside [skip_top, num_words) become `oov_char` (or are dropped when it is None)."""
    if not num_words:
        num_words = max(max(x) for x in texts if x)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in texts]
    return [[w for w in x if skip_top <= w < num_words] for x in texts]


def as_object_array(texts: list[list[int]]) -> np.ndarray:
    out = np.empty(len(texts), dtype=object)
    out[:] = texts
    return out
