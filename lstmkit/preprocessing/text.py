"""Text to integer sequences: Keras 2's word `Tokenizer`, and a character vocabulary with the
sliding windows character-level models train on."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
import numbers
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .._checks import positive_int

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def text_to_word_sequence(text: str, filters: str = DEFAULT_FILTERS, lower: bool = True, split: str = " ") -> list[str]:
    """Words of `text`: lower-cased, each filter character turned into `split`, split, empties dropped.

    >>> text_to_word_sequence("The cat, the hat!")
    ['the', 'cat', 'the', 'hat']
    """
    if lower:
        text = text.lower()
    table: dict[str, str | int | None] = {c: split for c in filters}
    text = text.translate(str.maketrans(table))
    return [w for w in text.split(split) if w]


def hashing_trick(text: str, n: int, hash_function: Any = None, filters: str = DEFAULT_FILTERS, lower: bool = True,
                  split: str = " ") -> list[int]:
    """Keras 2's `hashing_trick`: each word of `text` as `hash(word) % (n - 1) + 1`, an id in
    1..n-1 (0 is left for padding). `hash_function`: Python's `hash` by default (which differs
    from one process to the next unless PYTHONHASHSEED is set, as in Keras), "md5" for ids that
    never change, or a function of the word."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (ids run from 1 to n - 1), got n={n!r}")
    if hash_function is None:
        hash_function = hash
    elif hash_function == "md5":
        hash_function = lambda word: int(hashlib.md5(word.encode()).hexdigest(), 16)  # noqa: E731
    return [hash_function(word) % (int(n) - 1) + 1 for word in text_to_word_sequence(text, filters, lower, split)]


def one_hot(text: str, n: int, filters: str = DEFAULT_FILTERS, lower: bool = True, split: str = " ",
            analyzer: Any = None) -> list[int]:
    """Keras 2's `one_hot` (despite its name, word ids, not one-hot vectors): `hashing_trick` with
    Python's `hash`."""
    if analyzer is not None:
        raise ValueError("one_hot(analyzer=...) is not supported; split the text yourself")
    return hashing_trick(text, n, hash_function=hash, filters=filters, lower=lower, split=split)


class Tokenizer:
    """Words to indices by frequency, as Keras 2's `keras.preprocessing.text.Tokenizer`.

    `fit_on_texts` counts words; `word_index` numbers them from 1 by falling count (ties in order
    of first appearance), with `oov_token`, when given, as 1. `texts_to_sequences` keeps the
    words whose index is below `num_words` (all when None) and turns the others, and unseen
    words, into `oov_token`'s index when there is one, else drops them.

    >>> t = Tokenizer(num_words=3, oov_token="<?>")
    >>> t.fit_on_texts(["good good film", "bad film"])
    >>> t.word_index
    {'<?>': 1, 'good': 2, 'film': 3, 'bad': 4}
    >>> t.texts_to_sequences(["good bad film", "great"])
    [[2, 1, 1], [1]]
    """

    def __init__(
        self,
        num_words: int | None = None,
        filters: str = DEFAULT_FILTERS,
        lower: bool = True,
        split: str = " ",
        char_level: bool = False,
        oov_token: str | None = None,
    ) -> None:
        if num_words is not None and (isinstance(num_words, bool) or not isinstance(num_words, numbers.Integral) or num_words < 1):
            raise ValueError(f"num_words must be a positive integer or None, got {num_words!r}")
        self.num_words = num_words
        self.filters, self.lower, self.split, self.char_level = filters, lower, split, char_level
        self.oov_token = oov_token
        self.word_counts: OrderedDict[str, int] = OrderedDict()
        self.word_docs: dict[str, int] = {}
        self.document_count = 0
        self.word_index: dict[str, int] = {}
        self.index_word: dict[int, str] = {}

    def _words(self, text: str) -> list[str]:
        if self.char_level:
            return list(text.lower() if self.lower else text)
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    def fit_on_texts(self, texts: Iterable[str]) -> None:
        """Counts the words of `texts` and (re)builds `word_index`, most frequent first."""
        if isinstance(texts, str):
            raise ValueError("texts must be a list of strings, got one string (wrap it in a list)")
        for text in texts:
            self.document_count += 1
            words = self._words(text)
            for w in words:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
            for w in set(words):
                self.word_docs[w] = self.word_docs.get(w, 0) + 1
        ranked = sorted(self.word_counts.items(), key=lambda kv: kv[1], reverse=True)  # stable: ties keep order
        vocabulary = ([self.oov_token] if self.oov_token is not None else []) + [w for w, _ in ranked]
        self.word_index = {w: i for i, w in enumerate(vocabulary, start=1)}
        self.index_word = {i: w for w, i in self.word_index.items()}

    def texts_to_sequences(self, texts: Iterable[str]) -> list[list[int]]:
        """Each text as its words' indices (words beyond `num_words` left out, or the OOV index)."""
        if isinstance(texts, str):
            raise ValueError("texts must be a list of strings, got one string (wrap it in a list)")
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        sequences = []
        for text in texts:
            seq = []
            for w in self._words(text):
                i = self.word_index.get(w)
                if i is not None and (self.num_words is None or i < self.num_words):
                    seq.append(i)
                elif oov is not None:
                    seq.append(oov)
            sequences.append(seq)
        return sequences

    def sequences_to_matrix(self, sequences: Iterable[Iterable[int]], mode: str = "binary") -> np.ndarray:
        """One row per sequence, one column per word index below `num_words` (or the vocabulary
        size + 1): "binary" 1 where the word occurs, "count" its count, "freq" its count over
        the sequence's length, "tfidf" (1 + ln count) · ln(1 + documents / (1 + documents with
        the word)), as Keras 2 computes them. Indices at or past the width are left out."""
        if mode not in ("binary", "count", "freq", "tfidf"):
            raise ValueError(f"mode must be 'binary', 'count', 'freq' or 'tfidf', got mode={mode!r}")
        width = self.num_words or (len(self.word_index) + 1 if self.word_index else 0)
        if not width:
            raise ValueError("sequences_to_matrix needs num_words, or a tokenizer fitted on texts first")
        if mode == "tfidf" and not self.document_count:
            raise ValueError("mode='tfidf' needs a tokenizer fitted on texts first (it counts the documents)")
        documents_with = {self.word_index[w]: n for w, n in self.word_docs.items() if w in self.word_index}
        sequences = list(sequences)
        matrix = np.zeros((len(sequences), width))
        for row, seq in enumerate(sequences):
            seq = list(seq)
            counts: dict[int, int] = {}
            for j in seq:
                if j < width:
                    counts[j] = counts.get(j, 0) + 1
            for j, c in counts.items():
                if mode == "binary":
                    matrix[row, j] = 1.0
                elif mode == "count":
                    matrix[row, j] = c
                elif mode == "freq":
                    matrix[row, j] = c / len(seq)
                else:
                    matrix[row, j] = (1 + np.log(c)) * np.log(1 + self.document_count / (1 + documents_with.get(j, 0)))
        return matrix

    def texts_to_matrix(self, texts: Iterable[str], mode: str = "binary") -> np.ndarray:
        """`sequences_to_matrix` of the texts' sequences."""
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_texts(self, sequences: Iterable[Iterable[int]]) -> list[str]:
        """Each sequence of indices back to words joined by spaces."""
        return [" ".join(self.index_word[i] for i in seq if i in self.index_word) for seq in sequences]

    def get_config(self) -> dict[str, Any]:
        """Settings and fitted state, all JSON values (counts as lists of pairs, to keep their order)."""
        return {
            "num_words": self.num_words, "filters": self.filters, "lower": self.lower, "split": self.split,
            "char_level": self.char_level, "oov_token": self.oov_token, "document_count": self.document_count,
            "word_counts": list(self.word_counts.items()), "word_docs": list(self.word_docs.items()),
            "word_index": list(self.word_index.items()),
        }

    def to_json(self) -> str:
        """The tokenizer as a JSON string; `tokenizer_from_json` rebuilds it (as in Keras 2)."""
        return json.dumps({"class_name": "Tokenizer", "config": self.get_config()})


def tokenizer_from_json(json_string: str) -> Tokenizer:
    """The `Tokenizer` saved by `Tokenizer.to_json()`, fitted state included."""
    try:
        spec = json.loads(json_string)
        config = dict(spec["config"])
        if spec.get("class_name") != "Tokenizer":
            raise KeyError("class_name")
        tokenizer = Tokenizer(
            num_words=config["num_words"], filters=config["filters"], lower=config["lower"], split=config["split"],
            char_level=config["char_level"], oov_token=config["oov_token"],
        )
        tokenizer.document_count = int(config["document_count"])
        tokenizer.word_counts = OrderedDict((str(w), int(n)) for w, n in config["word_counts"])
        tokenizer.word_docs = {str(w): int(n) for w, n in config["word_docs"]}
        tokenizer.word_index = {str(w): int(i) for w, i in config["word_index"]}
    except (TypeError, ValueError, KeyError) as err:
        raise ValueError(f"json_string is not a tokenizer written by Tokenizer.to_json() ({type(err).__name__}: {err})") from None
    tokenizer.index_word = {i: w for w, i in tokenizer.word_index.items()}
    return tokenizer


class CharVocabulary:
    """The characters of a text, numbered 0..size-1 in sorted order; encodes and decodes.

    >>> v = CharVocabulary("hello")
    >>> v.chars, v.encode("hole").tolist(), v.decode([3, 2])
    (['e', 'h', 'l', 'o'], [1, 3, 2, 0], 'ol')
    """

    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or not text:
            raise ValueError(f"text must be a non-empty string to build a character vocabulary from, got {text!r:.60}")
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_chars(cls, chars: Iterable[str]) -> "CharVocabulary":
        """The vocabulary whose `chars` are these (as saved from another one's `chars`)."""
        chars = list(chars)
        if not chars or any(not isinstance(c, str) or len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
            raise ValueError(f"chars must be distinct single characters, got {chars!r:.100}")
        return cls("".join(chars))

    @property
    def size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        unknown = sorted(set(text) - self.index.keys())
        if unknown:
            raise ValueError(f"text has characters outside the vocabulary: {''.join(unknown)[:20]!r}")
        return np.fromiter((self.index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, codes: Iterable[int]) -> str:
        return "".join(self.chars[int(i)] for i in codes)


def char_windows(codes: np.ndarray, length: int, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows over encoded text: x (N, length) windows starting every `step` characters,
    y (N,) the character after each window.

    >>> x, y = char_windows(np.arange(6), length=3, step=2)
    >>> x.tolist(), y.tolist()
    ([[0, 1, 2], [2, 3, 4]], [3, 5])
    """
    if length < 1 or step < 1:
        raise ValueError(f"length and step must be positive, got length={length!r}, step={step!r}")
    codes = np.asarray(codes)
    starts = np.arange(0, len(codes) - length, step)
    if len(starts) == 0:
        raise ValueError(f"the text ({len(codes)} characters) is too short for windows of length {length}")
    x = codes[starts[:, None] + np.arange(length)[None, :]]
    return x, codes[starts + length]


class OneHotCharWindows(Dataset):
    """Windows over encoded text for a torch `DataLoader` (or `fit`), one-hot encoded as they are
    read, so a long text needs no (windows, length, vocabulary) array in memory: item i is
    x (length, vocabulary_size) float32, the window starting at i * step, and y, the id of the
    character after it.

    >>> data = OneHotCharWindows(np.array([0, 1, 2, 1]), length=2, vocabulary_size=3)
    >>> len(data), data[1][0].tolist(), int(data[1][1])
    (2, [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], 1)
    """

    def __init__(self, codes: np.ndarray, length: int, vocabulary_size: int, step: int = 1) -> None:
        for name, value in (("length", length), ("vocabulary_size", vocabulary_size), ("step", step)):
            positive_int(name, value)
        self.codes = torch.as_tensor(np.asarray(codes), dtype=torch.int64)
        if self.codes.dim() != 1 or len(self.codes) <= length:
            raise ValueError(f"codes must be a 1-d array longer than length={length}, got shape {tuple(self.codes.shape)}")
        if int(self.codes.min()) < 0 or int(self.codes.max()) >= vocabulary_size:
            raise ValueError(f"codes must lie in [0, vocabulary_size={vocabulary_size}), got "
                             f"[{int(self.codes.min())}, {int(self.codes.max())}]")
        self.length, self.vocabulary_size, self.step = length, vocabulary_size, step

    def __len__(self) -> int:
        return (len(self.codes) - self.length - 1) // self.step + 1

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"window {i} of {len(self)}")
        start = (i % len(self)) * self.step
        window = self.codes[start : start + self.length + 1]
        return F.one_hot(window[:-1], self.vocabulary_size).float(), window[-1]
