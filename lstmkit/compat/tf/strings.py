"""`tf.strings`: text functions on StringTensors (NumPy arrays of UTF-8 `bytes`), element by
element. `split` and `unicode_split` of a scalar give a 1-D StringTensor, of a vector a
RaggedTensor (rows of different lengths); `reduce_join` joins along an axis (or a ragged row).

Regular expressions are Python's `re` (TensorFlow's are RE2; the common syntax is the same, and
a rewrite's `\\1` means the first group in both).
"""

from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np
import torch

from ...data.strings import StringTensor
from ._tensors import dtype_of, float32
from .ragged import RaggedTensor

__all__ = ["split", "lower", "upper", "regex_replace", "regex_full_match", "reduce_join", "unicode_split", "unicode_decode",
           "length", "strip", "substr", "join", "to_number", "as_string", "bytes_split"]


def _text(value: Any) -> StringTensor:
    return value if isinstance(value, StringTensor) else StringTensor.of(value)


def _each(value: Any, fn: Callable[[bytes], Any]) -> Any:
    if isinstance(value, RaggedTensor):
        return value.map_rows(lambda row: _each(row, fn))
    text = _text(value)
    out = np.empty(text.shape, dtype=object)
    for index, item in np.ndenumerate(text.view(np.ndarray)):
        out[index] = fn(item)
    return out


def _strings(value: Any, fn: Callable[[bytes], bytes]) -> Any:
    out = _each(value, fn)
    return out if isinstance(out, RaggedTensor) else out.view(StringTensor)


def lower(input: Any, encoding: str = "", name: str | None = None) -> Any:
    return _strings(input, lambda s: s.decode("utf-8", "replace").lower().encode("utf-8") if encoding else s.lower())


def upper(input: Any, encoding: str = "", name: str | None = None) -> Any:
    return _strings(input, lambda s: s.decode("utf-8", "replace").upper().encode("utf-8") if encoding else s.upper())


def strip(input: Any, name: str | None = None) -> Any:
    return _strings(input, lambda s: s.strip())


def regex_replace(input: Any, pattern: Any, rewrite: Any, replace_global: bool = True, name: str | None = None) -> Any:
    """Replaces matches of `pattern` by `rewrite` (every match, or the first)."""
    pat = re.compile(_str(pattern))
    new = _str(rewrite)
    return _strings(input, lambda s: pat.sub(new, s.decode("utf-8", "replace"), count=0 if replace_global else 1)
                    .encode("utf-8"))


def regex_full_match(input: Any, pattern: Any, name: str | None = None) -> torch.Tensor:
    pat = re.compile(_str(pattern))
    return torch.from_numpy(_each(input, lambda s: pat.fullmatch(s.decode("utf-8", "replace")) is not None).astype(bool))


def _str(value: Any) -> str:
    if isinstance(value, StringTensor):
        value = value.numpy()
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _rows(value: Any, fn: Callable[[bytes], list[bytes]]) -> Any:
    text = _text(value)
    if text.ndim == 0:
        return StringTensor.of(np.array(fn(text.numpy()), dtype=object))
    if text.ndim == 1:
        return RaggedTensor([StringTensor.of(np.array(fn(s), dtype=object)) for s in text.view(np.ndarray)])
    raise ValueError(f"lstmkit's tf.strings splits scalars and vectors of text, got shape {text.shape}")


def split(input: Any, sep: Any = None, maxsplit: int = -1, name: str | None = None) -> Any:
    """Each string split at `sep` (default: runs of whitespace, empties dropped)."""
    separator = None if sep is None else _str(sep).encode("utf-8")
    return _rows(input, lambda s: s.split(separator, maxsplit))


def unicode_split(input: Any, input_encoding: str = "UTF-8", errors: str = "replace", replacement_char: int = 65533,
                  name: str | None = None) -> Any:
    """Each string as its characters (each a UTF-8 `bytes`)."""
    encoding = input_encoding.lower().replace("-", "")
    return _rows(input, lambda s: [c.encode("utf-8") for c in s.decode(encoding if encoding != "utf8" else "utf-8",
                                                                        "replace")])


def bytes_split(input: Any, name: str | None = None) -> Any:
    return _rows(input, lambda s: [bytes([b]) for b in s])


def unicode_decode(input: Any, input_encoding: str = "UTF-8", **kwargs: Any) -> Any:
    """Each string as its code points (int32)."""
    text = _text(input)
    if text.ndim == 0:
        return torch.tensor([ord(c) for c in text.numpy().decode("utf-8", "replace")], dtype=torch.int32)
    return RaggedTensor([torch.tensor([ord(c) for c in s.decode("utf-8", "replace")], dtype=torch.int32)
                         for s in text.view(np.ndarray)])


def unicode_encode(input: Any, output_encoding: str = "UTF-8", **kwargs: Any) -> Any:
    if isinstance(input, RaggedTensor):
        return StringTensor.of(np.array(["".join(map(chr, r.tolist())) for r in input.rows], dtype=object))
    codes = input.tolist() if isinstance(input, torch.Tensor) else list(input)
    return StringTensor.of("".join(map(chr, codes)))


def reduce_join(inputs: Any, axis: Any = None, keepdims: bool = False, separator: str = "", name: str | None = None) -> Any:
    """The strings joined along `axis` (all of them for None) with `separator`; for a
    RaggedTensor, each row joined."""
    sep = _str(separator).encode("utf-8")
    if isinstance(inputs, RaggedTensor):
        return StringTensor.of(np.array([sep.join(r.view(np.ndarray).tolist()) for r in inputs.rows], dtype=object))
    text = _text(inputs).view(np.ndarray)
    if axis is None:
        return StringTensor.of(sep.join(text.reshape(-1).tolist()))
    axis = int(axis) % text.ndim
    moved = np.moveaxis(text, axis, -1)
    out = np.empty(moved.shape[:-1], dtype=object)
    for index in np.ndindex(out.shape):
        out[index] = sep.join(moved[index].tolist())
    if keepdims:
        out = np.expand_dims(out, axis)
    return out.view(StringTensor)


def join(inputs: Any, separator: str = "", name: str | None = None) -> Any:
    """Element-wise join of several string tensors."""
    parts = np.broadcast_arrays(*[_text(v).view(np.ndarray) for v in inputs])
    sep = _str(separator).encode("utf-8")
    out = np.empty(parts[0].shape, dtype=object)
    for index in np.ndindex(out.shape):
        out[index] = sep.join(bytes(p[index]) for p in parts)
    return out.view(StringTensor)


def length(input: Any, unit: str = "BYTE", name: str | None = None) -> torch.Tensor:
    if unit not in ("BYTE", "UTF8_CHAR"):
        raise ValueError(f"unit must be 'BYTE' or 'UTF8_CHAR', got unit={unit!r}")
    count = (lambda s: len(s)) if unit == "BYTE" else (lambda s: len(s.decode("utf-8", "replace")))
    return torch.from_numpy(_each(input, count).astype(np.int32))


def substr(input: Any, pos: int, len: int, unit: str = "BYTE", name: str | None = None) -> Any:  # noqa: A002
    if unit == "BYTE":
        return _strings(input, lambda s: s[int(pos):int(pos) + int(len)])
    return _strings(input, lambda s: s.decode("utf-8")[int(pos):int(pos) + int(len)].encode("utf-8"))


def to_number(string_tensor: Any, out_type: Any = float32, name: str | None = None) -> torch.Tensor:
    dtype = dtype_of(out_type)
    convert = float if dtype.is_floating_point else int
    return torch.from_numpy(np.array(_each(string_tensor, lambda s: convert(s.decode())).tolist())).to(dtype)


def as_string(input: Any, precision: int = -1, name: str | None = None, **kwargs: Any) -> StringTensor:
    values = input.detach().cpu().numpy() if isinstance(input, torch.Tensor) else np.asarray(input)
    fmt = (lambda v: f"{v:.{precision}f}") if precision >= 0 else (lambda v: f"{v:g}" if isinstance(v, float) else str(v))
    out = np.empty(values.shape, dtype=object)
    for index, v in np.ndenumerate(values):
        out[index] = fmt(v.item()).encode("utf-8")
    return out.view(StringTensor)
