"""`TextVectorization`: raw text to token ids (or bag-of-words vectors), as Keras 3's layer.

Each string is standardized (default: lower-cased, punctuation removed), split (default: on
whitespace; "character": into characters), optionally extended with its n-grams (joined by a
space), then looked up in a vocabulary learnt by `adapt` (or given) as `StringLookup` does, with
0 for padding and 1 for tokens outside the vocabulary in "int" mode. "int" output is padded with
0 / cut to `output_sequence_length` (or padded to the longest string in the batch); the other
modes give one column per vocabulary entry.

It works on an array or list of strings, a `StringTensor`, as a model's first layer on string
input (`Input(shape=(1,), dtype="string")`), and inside `Dataset.map`.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

import numpy as np
import torch

from .._checks import one_of
from ..data.strings import StringTensor
from .lookup import OUTPUT_MODES, IndexLookup

# Keras's punctuation (its DEFAULT_STRIP_REGEX): ASCII punctuation characters
STRIP_PUNCTUATION = r"""[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~']"""
STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
SPLIT = ("whitespace", "character")


class TextVectorization(IndexLookup):
    """Text to ids; see the module's description.

    >>> tv = TextVectorization(output_sequence_length=4)
    >>> tv.adapt(["The cat sat.", "The dog!"])
    >>> tv.get_vocabulary(), tv(["the dog sat on"]).tolist()
    (['', '[UNK]', 'the', 'sat', 'dog', 'cat'], [[2, 4, 3, 1]])
    """

    kind = "string"

    def __init__(self, max_tokens: int | None = None, standardize: Any = "lower_and_strip_punctuation",
                 split: Any = "whitespace", ngrams: Any = None, output_mode: str = "int",
                 output_sequence_length: int | None = None, pad_to_max_tokens: bool = False, vocabulary: Any = None,
                 idf_weights: Any = None, sparse: bool = False, ragged: bool = False, encoding: str = "utf-8",
                 name: str | None = None, **kwargs: Any) -> None:
        mode = one_of("output_mode", output_mode, OUTPUT_MODES)
        if mode == "one_hot":
            raise ValueError("TextVectorization takes output_mode 'int', 'multi_hot', 'count' or 'tf_idf', got 'one_hot'")
        if not (standardize is None or callable(standardize)):
            standardize = one_of("standardize", standardize, STANDARDIZE)
        if not (split is None or callable(split)):
            split = one_of("split", split, SPLIT)
        if output_sequence_length is not None and mode != "int":
            raise ValueError(f"output_sequence_length works with output_mode='int', got output_mode={output_mode!r}")
        self.standardize, self.split = standardize, split
        if ngrams is None:
            self.ngrams: tuple[int, ...] = ()
        elif isinstance(ngrams, int):
            if ngrams < 1:
                raise ValueError(f"ngrams must be a positive number or a tuple of them, got ngrams={ngrams!r}")
            self.ngrams = tuple(range(1, ngrams + 1))
        else:
            self.ngrams = tuple(int(n) for n in ngrams)
        self.output_sequence_length = None if output_sequence_length is None else int(output_sequence_length)
        if sparse or ragged:
            raise ValueError(f"TextVectorization(sparse={sparse!r}, ragged={ragged!r}): lstmkit's outputs are dense "
                             "tensors; for int output of varying length leave output_sequence_length=None (padded to "
                             "the longest in the batch)")
        # "int" mode: id 0 pads (the mask token ""), id 1 is for tokens outside the vocabulary
        super().__init__(max_tokens=max_tokens, num_oov_indices=1, mask_token="" if mode == "int" else None,
                         oov_token="[UNK]", vocabulary=vocabulary, idf_weights=idf_weights, output_mode=mode,
                         pad_to_max_tokens=pad_to_max_tokens, name=name, **kwargs)

    # ---- text to tokens -------------------------------------------------------------------------

    def _standardized(self, text: StringTensor) -> StringTensor:
        if callable(self.standardize):
            out = self.standardize(text)
            return out if isinstance(out, StringTensor) else StringTensor.of(np.asarray(out, dtype=object))
        out = np.empty(text.shape, dtype=object)
        for index, item in np.ndenumerate(text.view(np.ndarray)):
            s = item.decode("utf-8", "replace")
            if self.standardize in ("lower_and_strip_punctuation", "lower"):
                s = s.lower()
            if self.standardize in ("lower_and_strip_punctuation", "strip_punctuation"):
                s = re.sub(STRIP_PUNCTUATION, "", s)
            out[index] = s.encode("utf-8")
        return out.view(StringTensor)

    def _split(self, text: StringTensor) -> list[list[str]]:
        """One list of tokens per string."""
        flat = text.reshape(-1)
        if callable(self.split):
            pieces = self.split(flat.view(StringTensor))
            rows = pieces.rows if hasattr(pieces, "rows") else list(pieces)
            return [[t.decode("utf-8", "replace") if isinstance(t, bytes) else str(t)
                     for t in np.asarray(r.view(np.ndarray) if isinstance(r, StringTensor) else r, dtype=object).reshape(-1)]
                    for r in rows]
        strings = [s.decode("utf-8", "replace") for s in flat.view(np.ndarray)]
        if self.split is None:
            return [[s] for s in strings]
        if self.split == "character":
            return [list(s) for s in strings]
        return [s.split() for s in strings]

    def _with_ngrams(self, tokens: list[str]) -> list[str]:
        if not self.ngrams:
            return tokens
        out: list[str] = []
        for n in self.ngrams:
            out += [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
        return out

    def _token_rows(self, batch: Any) -> tuple[tuple[int, ...], list[list[str]]]:
        """The strings' shape (a trailing axis of 1 dropped, as Keras reads (batch, 1) input) and
        each string's tokens."""
        text = batch if isinstance(batch, StringTensor) else StringTensor.of(batch)
        shape = tuple(text.shape)
        if len(shape) >= 2 and shape[-1] == 1:
            shape = shape[:-1]
        if len(shape) > 1:
            raise ValueError(f"TextVectorization {self.name!r} takes a batch of strings, shape (batch,) or (batch, 1); "
                             f"got shape {tuple(text.shape)}")
        rows = [self._with_ngrams(tokens) for tokens in self._split(self._standardized(text))]
        return shape, rows

    def _documents(self, batch: Any) -> Iterable[list[Any]]:
        _, rows = self._token_rows(batch)
        return rows

    # ---- the call -------------------------------------------------------------------------------

    def as_input(self, x: Any) -> Any:
        return x if isinstance(x, StringTensor) else StringTensor.of(x)

    def call(self, x: Any, *, mask: torch.Tensor | None = None, training: bool = False, **kwargs: Any) -> Any:
        shape, rows = self._token_rows(x)
        ids = [self.lookup(tokens) for tokens in rows]
        if self.output_mode != "int":
            depth = self.max_tokens if self.pad_to_max_tokens and self.max_tokens else self.vocabulary_size()
            out = torch.zeros(len(ids), depth)
            for i, row in enumerate(ids):
                if row:
                    out[i] = self.encode(torch.tensor(row, dtype=torch.int64).reshape(1, -1))[0]
            return out.reshape(*shape, depth)
        if self.split is None and self.output_sequence_length is None and not self.ngrams:  # one token per string
            return torch.tensor([row[0] for row in ids], dtype=torch.int64).reshape(shape)
        width = self.output_sequence_length if self.output_sequence_length is not None else max(map(len, ids), default=0)
        out_ids = torch.zeros(len(ids), width, dtype=torch.int64)
        for i, row in enumerate(ids):
            row = row[:width]
            out_ids[i, :len(row)] = torch.tensor(row, dtype=torch.int64)
        return out_ids.reshape(*shape, width)

    def compute_output_shape(self, input_shape: Any) -> Any:
        batch = input_shape[0] if input_shape else None
        if self.output_mode == "int":
            return (batch, self.output_sequence_length)
        depth = self.max_tokens if self.pad_to_max_tokens and self.max_tokens else (self.vocabulary_size() or None)
        return (batch, depth)

    def output_dtype(self, input_dtype: Any) -> str:
        return "int64" if self.output_mode == "int" else "float32"

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(standardize=self.standardize if isinstance(self.standardize, str) or self.standardize is None
                      else "callable", split=self.split if isinstance(self.split, str) or self.split is None
                      else "callable", ngrams=self.ngrams or None, output_sequence_length=self.output_sequence_length)
        return config


__all__ = ["TextVectorization", "STRIP_PUNCTUATION"]
