"""Reading the pickles Keras's data files hold (numpy object arrays of word-id lists; CIFAR's
batches of arrays and labels) without letting a file run code, crash the process or claim more
memory or time than its own size.

How a pickle is read here:

1. Its bytes are read whole (the caller bounds their number) and its opcodes are walked once
   (`_scan`) before the unpickler sees them: every length the stream declares (BINBYTES8,
   BINUNICODE8, FRAME, ...) must fit in the bytes that follow it, and every memo slot a PUT
   numbers must be below the pickle's size, so the unpickler never allocates more than the file
   holds.
2. The unpickler rebuilds lists, dicts, tuples, numbers, strings and bytes. The only classes it
   takes are numpy's array, dtype and scalar constructors, and it never calls numpy's own: it
   hands out stand-ins that record what the file says (`_Dtype`, `_Array`), and builds the real
   objects itself from a whitelist: dtypes of plain numeric kinds (bool, ints, uints, floats)
   rebuilt from their kind and size alone (the flags and field list a pickle's BUILD state
   carries are never trusted), object arrays only of lists of ints, and every array's data of
   exactly the size its shape and dtype need (an array without data is refused, never returned
   uninitialised).
3. The result is walked once, replacing the stand-ins; a walk that meets more items than the
   file has bytes (shared references: `L = [L] * 1000` three deep is 8 KB and 10^9 items) is
   refused.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
import re
from typing import IO, Any, Literal

import numpy as np

from ._files import read_at_most

# numeric dtypes a data file may hold, as a pickle names them ("<kind><bytes>")
_NUMERIC = re.compile(r"b1|[iu][1248]|f[248]")
_OBJECT = re.compile(r"O[48]")
# walking the result: items met per byte of pickle (every item costs at least one opcode byte)
_ITEMS_PER_BYTE = 1
_ITEMS_SLACK = 1 << 16


class _Refused(pickle.UnpicklingError, ValueError):
    """A pickle that is not an array data file of the kinds above (an UnpicklingError, as any
    unpickling failure, and a ValueError, as every refusal of a bad file in lstmkit)."""


# -- 1. the opcode walk ---------------------------------------------------------------------

_NEWLINE, _PREFIXED, _SPECIAL, _UNKNOWN = -1, -2, -3, -4


def _opcode_table() -> tuple[list[int], list[int]]:
    """For each byte value: its opcode's fixed argument size, or _NEWLINE (newline-terminated
    arguments, how many in the second list), _PREFIXED (a little-endian length of that many
    bytes, in the second list, then that much data), _SPECIAL (STOP, LONG_BINPUT and FRAME,
    looked at apart) or _UNKNOWN. From `pickletools`' table of the protocol."""
    sizes, extra = [_UNKNOWN] * 256, [0] * 256
    prefixed = {pickletools.TAKEN_FROM_ARGUMENT1: 1, pickletools.TAKEN_FROM_ARGUMENT4: 4,
                pickletools.TAKEN_FROM_ARGUMENT4U: 4, pickletools.TAKEN_FROM_ARGUMENT8U: 8}
    for op in pickletools.opcodes:
        code, arg = ord(op.code.encode("latin-1")), op.arg
        if arg is None:
            sizes[code] = 0
        elif arg.n >= 0:
            sizes[code] = arg.n
        elif arg.n in prefixed:
            sizes[code], extra[code] = _PREFIXED, prefixed[arg.n]
        else:  # UP_TO_NEWLINE: GLOBAL's and INST's two lines, INT, LONG, STRING, PUT, ... one
            sizes[code], extra[code] = _NEWLINE, 2 if op.name in ("GLOBAL", "INST") else 1
    for name in ("STOP", "LONG_BINPUT", "FRAME"):
        sizes[ord(next(op.code for op in pickletools.opcodes if op.name == name))] = _SPECIAL
    return sizes, extra


_SIZES, _EXTRA = _opcode_table()
_STOP = ord(".")
_PUT = ord("p")  # memo slots by number: the unpickler sizes its memo to the number
_FRAME = ord("\x95")  # an 8-byte length of the opcodes that follow, read (allocated) at once
_BINSTRING = ord("T")  # its length is signed; a negative one is refused like any misfit


def _memo_slot(slot: int | bytes, end: int) -> None:
    """A memo slot a PUT names: the unpickler grows its memo to twice the number at once (slot
    400 million, in an 8-byte pickle: 6 GB), so a slot beyond one per byte of pickle is refused."""
    try:
        number = int(slot)
    except ValueError:
        raise _Refused(f"a memo slot {str(slot)[:20]!r} is not a number") from None
    if not 0 <= number <= end:
        raise _Refused(f"a memo slot numbered {number:,} in a pickle of {end:,} bytes")


def _scan(data: bytes) -> None:
    """Checks that `data` is one pickle whose every argument lies inside it; raises _Refused.
    (The loop is kept tight: a data set's pickle is millions of small-int opcodes.)"""
    sizes, at, end = _SIZES, 0, len(data)
    while at < end:
        code = data[at]
        n = sizes[code]
        if n >= 0:  # a fixed-size argument (or none): the common case
            at += 1 + n
            continue
        at += 1
        if n == _SPECIAL:
            if code == _STOP:
                return
            if code == _FRAME:
                if at + 8 > end:
                    break
                length = int.from_bytes(data[at:at + 8], "little")
                at += 8
                if at + length > end:
                    raise _Refused(f"a frame at byte {at} declares {length:,} bytes; {end - at:,} remain")
                continue  # the frame's opcodes follow, scanned as any others
            if at + 4 > end:
                break
            _memo_slot(int.from_bytes(data[at:at + 4], "little"), end)
            at += 4
        elif n == _PREFIXED:
            width = _EXTRA[code]
            if at + width > end:
                break
            length = int.from_bytes(data[at:at + width], "little", signed=code == _BINSTRING)
            at += width
            if length < 0 or at + length > end:
                raise _Refused(f"an argument at byte {at} declares {length:,} bytes; {end - at:,} remain")
            at += length
        elif n == _NEWLINE:
            start = at
            for _ in range(_EXTRA[code]):
                newline = data.find(b"\n", at)
                if newline < 0:
                    raise _Refused(f"an argument at byte {at} runs past the end")
                at = newline + 1
            if code == _PUT:
                _memo_slot(data[start:at - 1], end)
        else:
            raise _Refused(f"unknown opcode {code:#04x} at byte {at - 1}")
    raise _Refused("the pickle is cut short (no STOP opcode inside it)")


# -- 2. the stand-ins the unpickler hands out ----------------------------------------------------

def _text(value: Any) -> Any:
    """A name as Python 2 pickles give it under encoding="bytes" (bytes) or as Python 3's (str)."""
    return value.decode("latin-1") if isinstance(value, bytes) and len(value) < 64 else value


def _dtype_from(name: Any, state: Any) -> np.dtype:
    """A dtype from a pickle's constructor argument ("f8", "O8", ...) and BUILD state, taking
    only its byte order from the state."""
    name = _text(name)
    if not isinstance(name, str) or not (_NUMERIC.fullmatch(name) or _OBJECT.fullmatch(name)):
        raise _Refused(f"the dtype {str(name)[:40]!r} is not a plain number or object type")
    if _OBJECT.fullmatch(name):
        return np.dtype(object)
    order = _text(state[1]) if isinstance(state, tuple) and len(state) > 1 else "|"
    if order not in ("<", ">", "|", "="):
        raise _Refused(f"the dtype {name!r} has the byte order {str(order)[:10]!r}")
    if isinstance(state, tuple) and any(part is not None for part in state[2:5]):
        raise _Refused(f"the dtype {name!r} declares fields or a sub-array")
    return np.dtype(name).newbyteorder("<" if order == "<" else ">" if order == ">" else "=")


class _Dtype:
    """`numpy.dtype(name, align, copy)` as a pickle asks for it, resolved at BUILD."""

    name: Any = None
    dtype: np.dtype | None = None

    def __init__(self, name: Any = None, align: Any = False, copy: Any = False, *rest: Any) -> None:
        self.name = name

    def __setstate__(self, state: Any) -> None:
        if self.dtype is not None:
            raise _Refused("a dtype is built twice")
        self.dtype = _dtype_from(self.name, state)

    def resolved(self) -> np.dtype:
        return self.dtype if self.dtype is not None else _dtype_from(self.name, None)


class _NdarrayClass:
    """Stands for `numpy.ndarray` as `_reconstruct`'s first argument; it builds nothing itself."""


def _word_ids(item: Any, where: str) -> list[int]:
    """An object array's item: a list of non-negative ints (the word ids of one text), checked
    through numpy (a list holding anything else gives another dtype or shape)."""
    if type(item) is not list:
        raise _Refused(f"{where} holds a {type(item).__name__}, not a list of word ids")
    if item:
        try:
            ids = np.array(item)
        except (ValueError, TypeError, OverflowError):
            ids = None
        if ids is None or ids.dtype.kind not in "iu" or ids.ndim != 1 or ids.min() < 0 or ids.max() >= 1 << 31:
            raise _Refused(f"{where} holds {str(item)[:40]}, not a list of word ids")
    return item


class _Array:
    """`numpy.core.multiarray._reconstruct(ndarray, shape, typecode)`: an empty array that the
    pickle's BUILD fills; built here from the state, checked against its shape and dtype."""

    value: np.ndarray | None = None

    def __init__(self, cls: Any = None, shape: Any = None, typecode: Any = None, *rest: Any) -> None:
        if cls is not _NdarrayClass:
            raise _Refused("_reconstruct is asked for something other than an ndarray")

    def __setstate__(self, state: Any) -> None:
        if self.value is not None:
            raise _Refused("an array is built twice")
        if not (isinstance(state, tuple) and len(state) == 5):
            raise _Refused("an array's state is not (version, shape, dtype, fortran, data)")
        _, shape, dtype, fortran, data = state
        shape = _shape(shape)
        if not isinstance(dtype, _Dtype):
            raise _Refused("an array's dtype is not a dtype")
        dtype_ = dtype.resolved()
        count = math.prod(shape)
        order: Literal["C", "F"] = "F" if fortran else "C"
        if dtype_.hasobject:
            if type(data) is not list or len(data) != count:
                raise _Refused(f"an object array of shape {shape} holds {type(data).__name__} data, not {count} items")
            out = np.empty(count, dtype=object)
            for i, item in enumerate(data):
                out[i] = _word_ids(item, f"item {i} of an object array")
            self.value = out.reshape(shape, order=order)
            return
        self.value = _numeric_array(data, dtype_, shape, order)


def _shape(value: Any) -> tuple[int, ...]:
    """An array's shape as a pickle gives it: a tuple of non-negative ints."""
    if not (isinstance(value, tuple) and all(type(d) is int and d >= 0 for d in value)):
        raise _Refused(f"an array's shape is {str(value)[:60]}")
    return value


def _numeric_array(data: Any, dtype: np.dtype, shape: Any, order: Literal["C", "F"]) -> np.ndarray:
    """An array of a numeric dtype from exactly the bytes its shape needs, copied, native order."""
    shape = _shape(shape)
    count = math.prod(shape)
    if not isinstance(data, (bytes, bytearray)) or len(data) != count * dtype.itemsize:
        size = len(data) if isinstance(data, (bytes, bytearray)) else type(data).__name__
        raise _Refused(f"an array of shape {shape} and dtype {dtype} needs {count * dtype.itemsize:,} bytes of "
                       f"data; the pickle gives {size}")
    # a copy of its own, in native byte order (as numpy's unpickling gives it)
    stored = np.frombuffer(bytes(data), dtype=dtype).reshape(shape, order=order)
    return stored.astype(dtype.newbyteorder("="), order=order)


def _from_buffer(data: Any, dtype: Any, shape: Any, order: Any = "C") -> np.ndarray:
    """`numpy._core.numeric._frombuffer(buffer, dtype, shape, order)`: protocol 5's arrays."""
    if not isinstance(dtype, _Dtype) or dtype.resolved().hasobject or order not in ("C", "F"):
        raise _Refused("_frombuffer is asked for an array that is not of numbers")
    return _numeric_array(data, dtype.resolved(), shape, "F" if order == "F" else "C")


def _empty_bytes(*args: Any) -> bytes:
    """`bytes()`: how protocol 2 pickles an empty bytes object (any argument is refused: bytes(n)
    would allocate n)."""
    if args:
        raise _Refused("bytes() is called with arguments")
    return b""


def _scalar(dtype: Any, data: Any = None) -> Any:
    """`numpy.core.multiarray.scalar(dtype, bytes)`: a numpy number."""
    if not isinstance(dtype, _Dtype):
        raise _Refused("a scalar's dtype is not a dtype")
    dtype_ = dtype.resolved()
    if dtype_.hasobject or not isinstance(data, bytes) or len(data) != dtype_.itemsize:
        raise _Refused(f"a scalar of dtype {dtype_} is not {dtype_.itemsize} bytes of data")
    return np.frombuffer(data, dtype=dtype_)[0]


def _latin1(text: Any, encoding: Any = "latin1") -> bytes:
    """`_codecs.encode(text, "latin1")`: how Python 3 pickles bytes in protocol 2."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused(f"_codecs.encode is asked for the encoding {str(encoding)[:20]!r}")
    return text.encode("latin-1")


_CLASSES: dict[tuple[str, str], Any] = {
    **{(module, name): made for module in ("numpy.core.multiarray", "numpy._core.multiarray")
       for name, made in (("_reconstruct", _Array), ("scalar", _scalar))},
    **{(module, "_frombuffer"): _from_buffer for module in ("numpy.core.numeric", "numpy._core.numeric")},
    **{(module, "bytes"): _empty_bytes for module in ("builtins", "__builtin__")},
    ("numpy", "ndarray"): _NdarrayClass,
    ("numpy", "dtype"): _Dtype,
    ("_codecs", "encode"): _latin1,
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        made = _CLASSES.get((module, name))
        if made is None:
            raise _Refused(f"refused {module}.{name}: a data file may hold only numpy arrays, lists, "
                           "dicts, numbers and strings")
        return made

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("refused a persistent reference: a data file holds its data itself")


# -- 3. the result ------------------------------------------------------------------------------

def _finished(value: Any, budget: int) -> Any:
    """`value` with every stand-in replaced by what it built; refuses anything else, and a walk of
    more than `budget` items."""
    met = 0

    def walk(item: Any) -> Any:
        nonlocal met
        met += 1
        if met > budget:
            raise _Refused(f"the data holds more than {budget:,} items (shared references?)")
        if isinstance(item, _Array):
            if item.value is None:
                raise _Refused("an array has no data (never built)")
            return item.value
        if type(item) is list:
            for i, child in enumerate(item):
                item[i] = walk(child)
            return item
        if type(item) is tuple:
            return tuple(walk(child) for child in item)
        if type(item) is dict:
            for key in list(item):
                if type(key) not in (str, bytes, int):
                    raise _Refused(f"a dict key is a {type(key).__name__}")
                met += 1
                item[key] = walk(item[key])
            return item
        if item is None or type(item) in (bool, int, float, str, bytes, np.ndarray) or isinstance(item, np.generic):
            return item
        raise _Refused(f"the data holds a {type(item).__name__}")

    # nesting is bounded by the unpickler's own stack, which the file's size bounds; Python's
    # recursion limit turns a very deep one into a RecursionError, refused by the caller
    return walk(value)


def arrays_only_pickle(f: IO[bytes], encoding: str = "ASCII", limit: int = 1 << 34) -> Any:
    """The object pickled in `f` (read to its end, at most `limit` bytes), built from numeric
    arrays, object arrays of word-id lists and plain Python values only (`encoding="bytes"` for
    Python 2 pickles, as CIFAR's are).

    Raises:
        pickle.UnpicklingError: (also a ValueError) Saying what the file holds that a data file
            may not (a class, a dtype, a size beyond the file, an array without data, too many
            shared items), or how it is damaged.
    """
    data = read_at_most(f, limit)
    if data is None:
        raise _Refused(f"the pickle is larger than {limit:,} bytes")
    _scan(data)
    try:
        # through a buffered reader: the unpickler then takes the bytes in large blocks
        loaded = _ArraysOnly(io.BufferedReader(io.BytesIO(data), 1 << 20), encoding=encoding).load()
        return _finished(loaded, _ITEMS_PER_BYTE * len(data) + _ITEMS_SLACK)
    except _Refused:
        raise
    except pickle.UnpicklingError as err:  # the unpickler's own: truncated data, a bad opcode, a memo miss
        raise _Refused(str(err)) from None
    except RecursionError:
        raise _Refused("the data nests too deeply") from None
    except (AttributeError, TypeError, ValueError, IndexError, KeyError, EOFError, OverflowError) as err:
        raise _Refused(f"not an array data file ({type(err).__name__}: {str(err)[:200]})") from None
