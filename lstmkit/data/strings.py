"""The values a pipeline carries: torch tensors for numbers, `StringTensor` for text, and nested
tuples and dicts of them (TensorFlow's "structures": a tuple or dict is a structure, a list is
data).

Numbers follow TensorFlow's dtype rules: a Python float is float32, a Python int int32, a bool
bool; a NumPy array keeps its dtype (float64 stays float64). Text is a NumPy array of `bytes`
objects, as TensorFlow's `.numpy()` gives it, with `.numpy()` of its own.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

import numpy as np
import torch


class StringTensor(np.ndarray):
    """Text in a pipeline: a NumPy object array of UTF-8 `bytes`. `.numpy()` gives the plain
    array (a 0-d one as its `bytes`, as TensorFlow does), so `t.numpy().decode()` reads a line.

    >>> StringTensor.of(["héllo", b"x"]).numpy().tolist()
    [b'h\\xc3\\xa9llo', b'x']
    >>> StringTensor.of("a").numpy()
    b'a'
    """

    @classmethod
    def of(cls, value: Any) -> "StringTensor":
        if isinstance(value, StringTensor):
            return value
        array = np.asarray(value, dtype=object) if not isinstance(value, np.ndarray) else value.view(np.ndarray)
        out = np.empty(array.shape, dtype=object)
        flat_in, flat_out = array.reshape(-1), out.reshape(-1)
        for i, item in enumerate(flat_in):
            if isinstance(item, StringTensor):
                item = item.numpy()
            if isinstance(item, (bytes, np.bytes_)):
                flat_out[i] = bytes(item)
            elif isinstance(item, (str, np.str_)):
                flat_out[i] = str(item).encode("utf-8")
            else:
                raise TypeError(f"Expected text (str or bytes), got {type(item).__name__} {item!r}")
        return out.view(cls)

    def __getitem__(self, index: Any) -> Any:
        item = super().__getitem__(index)
        if isinstance(item, np.ndarray):
            return item
        made = np.empty((), dtype=object)  # one string: a 0-d StringTensor, as TensorFlow indexes
        made[()] = item
        return made.view(StringTensor)

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        """A scalar's text (so that code written for `bytes` elements reads it too)."""
        return self.numpy().decode(encoding, errors)

    def numpy(self) -> Any:
        plain = self.view(np.ndarray)
        return plain[()] if plain.ndim == 0 else plain

    @property
    def dtype(self) -> Any:  # type: ignore[override]
        return STRING

    def __repr__(self) -> str:
        return f"<StringTensor shape={self.shape} {self.view(np.ndarray).tolist()!r}>"

    def __array_wrap__(self, array: Any, context: Any = None, return_scalar: bool = False) -> Any:
        return array  # arithmetic and comparisons give plain arrays


class _StringDType:
    """The dtype of text values (`tf.string`)."""

    name = "string"

    def __repr__(self) -> str:
        return "tf.string"

    def __eq__(self, other: Any) -> bool:
        return other is self or other == "string" or other is str or other is bytes or (
            isinstance(other, np.dtype) and other.kind in "USO")

    def __hash__(self) -> int:
        return hash("string")


STRING = _StringDType()


def is_text(value: Any) -> bool:
    if isinstance(value, (str, bytes, StringTensor)):
        return True
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "US":
            return True
        return value.dtype == object and value.size > 0 and isinstance(value.reshape(-1)[0], (str, bytes))
    if isinstance(value, list) and value:
        first = value
        while isinstance(first, list) and first:
            first = first[0]
        return isinstance(first, (str, bytes))
    return False


def as_leaf(value: Any, dtype: Any = None) -> Any:
    """One value as a pipeline carries it: a torch tensor, or a StringTensor for text. `dtype`:
    a torch dtype (or "string") to convert to."""
    if dtype is STRING or dtype == "string":
        return value if isinstance(value, StringTensor) else StringTensor.of(value)
    if isinstance(value, torch.Tensor):
        return value if dtype is None else value.to(_torch_dtype(dtype))
    if is_text(value):
        return StringTensor.of(value)
    if isinstance(value, bool):
        t = torch.tensor(value)
    elif isinstance(value, numbers.Integral) and not isinstance(value, np.integer):
        t = torch.tensor(int(value), dtype=torch.int32 if -2**31 <= int(value) < 2**31 else torch.int64)
    elif isinstance(value, float):
        t = torch.tensor(value, dtype=torch.float32)
    else:
        array = np.asarray(value)
        if array.dtype == object:
            raise TypeError(f"Expected numbers or text, got an array of Python objects: {value!r:.200}")
        if isinstance(value, (list, tuple)) and array.dtype.kind in "fi":
            # Python numbers in a list: TensorFlow's defaults, float32 and int32
            array = array.astype(np.float32 if array.dtype.kind == "f" else
                                 np.int32 if array.size == 0 or (array.min() >= -2**31 and array.max() < 2**31) else np.int64)
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
        t = torch.from_numpy(np.array(array, copy=True))
    return t if dtype is None else t.to(_torch_dtype(dtype))


def _torch_dtype(dtype: Any) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str):
        found = getattr(torch, dtype, None)
        if isinstance(found, torch.dtype):
            return found
    if isinstance(dtype, type) or isinstance(dtype, np.dtype):
        return torch.from_numpy(np.zeros(0, dtype=dtype)).dtype
    raise TypeError(f"Expected a dtype (torch.float32, 'float32', np.float32, ...), got dtype={dtype!r}")


# ---- structures: tuples and dicts of values ------------------------------------------------------

def map_structure(fn: Callable[[Any], Any], value: Any) -> Any:
    if isinstance(value, tuple):
        made = [map_structure(fn, v) for v in value]
        return type(value)(*made) if hasattr(value, "_fields") else tuple(made)
    if isinstance(value, dict):
        return {k: map_structure(fn, v) for k, v in value.items()}
    return fn(value)


def flatten(value: Any) -> list[Any]:
    if isinstance(value, tuple):
        return [leaf for v in value for leaf in flatten(v)]
    if isinstance(value, dict):
        return [leaf for k in value for leaf in flatten(value[k])]
    return [value]


def zip_structures(fn: Callable[[list[Any]], Any], values: list[Any]) -> Any:
    """`fn` of the lists of matching leaves of several values of one structure."""
    first = values[0]
    if isinstance(first, tuple):
        for v in values:
            if not isinstance(v, tuple) or len(v) != len(first):
                raise ValueError(f"Elements have different structures: {_describe(first)} and {_describe(v)}")
        return tuple(zip_structures(fn, [v[i] for v in values]) for i in range(len(first)))
    if isinstance(first, dict):
        for v in values:
            if not isinstance(v, dict) or v.keys() != first.keys():
                raise ValueError(f"Elements have different structures: {_describe(first)} and {_describe(v)}")
        return {k: zip_structures(fn, [v[k] for v in values]) for k in first}
    return fn(values)


def _describe(value: Any) -> str:
    return repr(map_structure(lambda leaf: f"shape={tuple(leaf.shape)}" if hasattr(leaf, "shape") else type(leaf).__name__, value))
