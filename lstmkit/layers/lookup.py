"""`StringLookup` and `IntegerLookup`: tokens to ids through a vocabulary, as Keras 3's
preprocessing layers do (and back, with `invert=True`).

The vocabulary is given (`vocabulary=`: a list, or a text file of one token per line) or learnt
by `adapt(data)`: tokens by how often they occur, most frequent first, ties broken in
descending order of the token (Keras's order). The ids: the mask token's 0 (when there is one),
then `num_oov_indices` ids for tokens outside the vocabulary, then the vocabulary. Output
modes other than "int" ("one_hot", "multi_hot", "count", "tf_idf") give one column per id.
"""

from __future__ import annotations

import collections
import math
import os
from typing import Any, Iterable

import numpy as np
import torch

from .._checks import one_of
from ..data import Dataset
from ..data.strings import StringTensor
from .base import Layer

OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


def _rows_of(data: Any) -> Iterable[Any]:
    """The batches (or single values) of what `adapt` is given: an array, a list, or a Dataset."""
    if isinstance(data, Dataset):
        for element in data:
            yield element[0] if isinstance(element, tuple) else element
    else:
        yield data


class IndexLookup(Layer):
    """What StringLookup and IntegerLookup share; `kind` says which tokens they hold."""

    kind = "string"
    accepts_text = True

    def __init__(self, max_tokens: int | None = None, num_oov_indices: int = 1, mask_token: Any = None,
                 oov_token: Any = "[UNK]", vocabulary: Any = None, vocabulary_dtype: Any = None, idf_weights: Any = None,
                 invert: bool = False, output_mode: str = "int", sparse: bool = False, pad_to_max_tokens: bool = False,
                 encoding: str = "utf-8", name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        if max_tokens is not None and int(max_tokens) < 1:
            raise ValueError(f"max_tokens must be None or a positive number, got max_tokens={max_tokens!r}")
        if int(num_oov_indices) < 0:
            raise ValueError(f"num_oov_indices must be >= 0, got num_oov_indices={num_oov_indices!r}")
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.num_oov_indices = int(num_oov_indices)
        self.mask_token, self.oov_token = self._token(mask_token), self._token(oov_token)
        self.invert = bool(invert)
        self.output_mode = one_of("output_mode", output_mode, OUTPUT_MODES)
        if self.invert and self.output_mode != "int":
            raise ValueError(f"invert=True works with output_mode='int', got output_mode={output_mode!r}")
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.vocab: list[Any] = []  # the learnt or given tokens, without the mask and OOV tokens
        self.index: dict[Any, int] = {}
        self.idf: torch.Tensor | None = None
        self.built = True
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # ---- tokens ---------------------------------------------------------------------------------

    def _token(self, value: Any) -> Any:
        if value is None:
            return None
        if self.kind == "string":
            return value.decode("utf-8") if isinstance(value, bytes) else str(value)
        return int(value)

    def _tokens(self, values: Any) -> list[Any]:
        flat = np.asarray(values.view(np.ndarray) if isinstance(values, StringTensor) else values, dtype=object).reshape(-1)
        if self.kind == "string":
            return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat]
        return [int(v) for v in flat]

    @property
    def _first_id(self) -> int:
        return (1 if self.mask_token is not None else 0) + self.num_oov_indices

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[Any]:
        """The tokens in id order: the mask token, the OOV token(s), then the vocabulary."""
        special: list[Any] = []
        if include_special_tokens:
            if self.mask_token is not None:
                special.append(self.mask_token)
            special += [self.oov_token] * self.num_oov_indices if self.output_mode == "int" or self.num_oov_indices \
                else []
        return special + list(self.vocab)

    def vocabulary_size(self) -> int:
        return self._first_id + len(self.vocab)

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        if isinstance(vocabulary, (str, os.PathLike)) and os.path.isfile(vocabulary):
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = [line.rstrip("\n") for line in f]
        tokens = self._tokens(vocabulary)
        special = {t for t in (self.mask_token, self.oov_token) if t is not None}
        if set(tokens[:2]) & special:  # a vocabulary as get_vocabulary() gives it: the special tokens lead
            tokens = [t for t in tokens if t not in special]
        if len(set(tokens)) != len(tokens):
            dup = [t for t, n in collections.Counter(tokens).items() if n > 1][:3]
            raise ValueError(f"The vocabulary has repeated tokens: {dup}")
        self.vocab = tokens
        self.index = {t: i + self._first_id for i, t in enumerate(tokens)}
        if idf_weights is not None:
            weights = torch.as_tensor(np.asarray(idf_weights, dtype=np.float32))
            self.idf = torch.cat([weights.mean().reshape(1).repeat(self._first_id), weights])

    def adapt(self, data: Any, batch_size: Any = None, steps: Any = None) -> None:
        """Learns the vocabulary (most frequent first) from an array, a list or a Dataset."""
        counts: collections.Counter[Any] = collections.Counter()
        documents = 0
        doc_counts: collections.Counter[Any] = collections.Counter()
        for batch in _rows_of(data):
            for row in self._documents(batch):
                documents += 1
                counts.update(row)
                doc_counts.update(set(row))
        special = {t for t in (self.mask_token, self.oov_token) if t is not None}
        ranked = sorted(((n, _order_key(t), t) for t, n in counts.items() if t not in special), reverse=True)
        tokens = [t for _, _, t in ranked]
        if self.max_tokens is not None:
            tokens = tokens[:max(self.max_tokens - self._first_id, 0)]
        self.set_vocabulary(tokens)
        if self.output_mode == "tf_idf":
            idf = [math.log(1 + documents / (1 + doc_counts[t])) for t in tokens]
            mean = sum(idf) / len(idf) if idf else 0.0
            self.idf = torch.tensor([mean] * self._first_id + idf, dtype=torch.float32)

    def _documents(self, batch: Any) -> Iterable[list[Any]]:
        """Each sample of a batch as its list of tokens (a scalar is one sample of one token)."""
        if hasattr(batch, "rows"):  # a RaggedTensor
            for row in batch.rows:
                yield self._tokens(row)
            return
        array = batch.view(np.ndarray) if isinstance(batch, StringTensor) else (
            batch.detach().cpu().numpy() if isinstance(batch, torch.Tensor) else np.asarray(batch, dtype=object))
        if array.ndim == 0:
            yield self._tokens(array)
        elif array.ndim == 1:
            yield self._tokens(array)
        else:
            for row in array.reshape(array.shape[0], -1):
                yield self._tokens(row)

    # ---- the call -------------------------------------------------------------------------------

    def as_input(self, x: Any) -> Any:
        if hasattr(x, "rows"):
            return x
        if self.invert or self.kind != "string":
            return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x)).long()
        return x if isinstance(x, StringTensor) else StringTensor.of(x)

    def lookup(self, tokens: list[Any]) -> list[int]:
        oov = self.num_oov_indices
        base = 1 if self.mask_token is not None else 0
        out = []
        for t in tokens:
            if self.mask_token is not None and t == self.mask_token:
                out.append(0)
            elif t in self.index:
                out.append(self.index[t])
            elif oov == 0:
                raise ValueError(f"{type(self).__name__} {self.name!r}: {t!r} is not in the vocabulary and "
                                 "num_oov_indices=0")
            else:
                out.append(base + (hash(t) % oov if oov > 1 else 0))
        return out

    def call(self, x: Any, *, mask: torch.Tensor | None = None, training: bool = False, **kwargs: Any) -> Any:
        if hasattr(x, "rows"):  # ragged: each row looked up
            return x.map_rows(lambda row: self.call(row))
        if self.invert:
            vocabulary = self.get_vocabulary()
            ids = x.detach().cpu().numpy()
            out = np.empty(ids.shape, dtype=object)
            for index, i in np.ndenumerate(ids):
                out[index] = (vocabulary[i] if 0 <= i < len(vocabulary) else self.oov_token).encode("utf-8") \
                    if self.kind == "string" else (vocabulary[i] if 0 <= i < len(vocabulary) else self.oov_token)
            return out.view(StringTensor) if self.kind == "string" else torch.as_tensor(out.astype(np.int64))
        shape = tuple(x.shape)
        source = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x
        ids = torch.tensor(self.lookup(self._tokens(source)), dtype=torch.int64).reshape(shape)
        return self.encode(ids)

    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        """Ids in `output_mode`: as they are, or one column per id (the last axis summed over)."""
        if self.output_mode == "int":
            return ids
        depth = self.max_tokens if self.pad_to_max_tokens and self.max_tokens else self.vocabulary_size()
        if self.output_mode == "one_hot":
            return torch.nn.functional.one_hot(ids, depth).float()
        rows = ids.reshape(-1, ids.shape[-1]) if ids.dim() > 1 else ids.reshape(1, -1)
        counts = torch.zeros(rows.shape[0], depth)
        counts.scatter_add_(1, rows, torch.ones_like(rows, dtype=torch.float32))
        if self.mask_token is not None:
            counts[:, 0] = 0
        if self.output_mode == "multi_hot":
            counts = (counts > 0).float()
        elif self.output_mode == "tf_idf":
            if self.idf is None:
                raise ValueError(f"{type(self).__name__} {self.name!r} has no idf weights: call adapt() first (or give "
                                 "idf_weights=)")
            counts = counts * torch.nn.functional.pad(self.idf, (0, depth - len(self.idf)))
        return counts.reshape(*ids.shape[:-1], depth) if ids.dim() > 1 else counts[0]

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self.output_mode == "int":
            return tuple(input_shape)
        depth = self.max_tokens if self.pad_to_max_tokens and self.max_tokens else (self.vocabulary_size() or None)
        if self.output_mode == "one_hot":
            return (*input_shape, depth)
        return (*input_shape[:-1], depth) if len(input_shape) > 1 else (depth,)

    def output_dtype(self, input_dtype: Any) -> str:
        return "int64" if self.output_mode == "int" and not self.invert else "string" if self.invert else "float32"

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "max_tokens": self.max_tokens, "num_oov_indices": self.num_oov_indices,
                "mask_token": self.mask_token, "oov_token": self.oov_token, "invert": self.invert,
                "output_mode": self.output_mode, "vocabulary": list(self.vocab)}


def _order_key(token: Any) -> Any:
    return token.encode("utf-8") if isinstance(token, str) else token


class StringLookup(IndexLookup):
    """Strings to ids (Keras's `keras.layers.StringLookup`; `invert=True`: ids to strings).

    >>> lookup = StringLookup(vocabulary=["a", "b", "c"])
    >>> lookup(["b", "x"]).tolist(), lookup.get_vocabulary()
    ([2, 0], ['[UNK]', 'a', 'b', 'c'])
    """

    kind = "string"


class IntegerLookup(IndexLookup):
    """Integers to ids (Keras's `keras.layers.IntegerLookup`; the OOV token is -1).

    >>> lookup = IntegerLookup(vocabulary=[12, 36])
    >>> lookup(torch.tensor([36, 7])).tolist()
    [2, 0]
    """

    kind = "integer"
    accepts_text = False

    def __init__(self, max_tokens: int | None = None, num_oov_indices: int = 1, mask_token: Any = None,
                 oov_token: Any = -1, **kwargs: Any) -> None:
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices, mask_token=mask_token,
                         oov_token=oov_token, **kwargs)
