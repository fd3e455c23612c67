"""The model file format: a zip of JSON and safetensors, read with limits, never pickle.

This module knows files, not models. `write_archive` writes a zip archive (stored, not
compressed) with exactly two members:

    lstmkit.json          the header: {"format": "lstmkit.model" or "lstmkit.checkpoint",
                          "lstmkit_version", and what the writer keeps (the architecture, the
                          compile settings, the optimizer's and a run's state, extras)}
    tensors.safetensors   weights.<state_dict key>         the model's weights and buffers
                          optimizer.<param index>.<name>    the optimizer's per-weight state
                          state.<n>                         a checkpoint's run-state arrays

`save_weights` files are a bare safetensors file with the weights alone (format tag
"lstmkit.weights" in its metadata). Every file is written by `lstmkit._io.atomic_write`: a
temporary file, fsynced, renamed over the target, so a crash leaves the previous file whole.

Reading checks, before anything is built: the archive is whole (zip directory and CRCs), its
member names are exactly the two above (a name that climbs out of the archive, or a pickle, is
refused by name), there are at most `MAX_MEMBERS`, sizes are within `MAX_JSON_BYTES` /
`MAX_TENSOR_BYTES` and agree with the compression, the JSON parses to an object with a format
tag (nested at most `MAX_JSON_DEPTH` deep), the tensors parse as safetensors, and a caller's
`check` sees the header and the tensors' declared names, dtypes and shapes before any tensor
data is inflated (`lstmkit.saving.weights.fits_module` checks them against a model).
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from typing import Any, Callable, Mapping

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from .._io import atomic_write
from .._version import __version__
from .._zipread import ZIP_ERRORS, read_member, unique_names

MODEL_FORMAT = "lstmkit.model"
WEIGHTS_FORMAT = "lstmkit.weights"
CHECKPOINT_FORMAT = "lstmkit.checkpoint"
JSON_MEMBER = "lstmkit.json"
TENSORS_MEMBER = "tensors.safetensors"
MAX_JSON_BYTES = 16 << 20  # the architecture, settings and extras (a tokenizer's vocabulary): far below this
MAX_JSON_DEPTH = 64  # nesting of lists and dicts in it; an architecture nests a few levels
MAX_MEMBERS = 16  # a model file holds two
MAX_TENSOR_BYTES = 64 << 30  # 64 GiB of weights: beyond any LSTM this package trains
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".ckpt", ".joblib")


def _looks_like_pickle(data: bytes) -> bool:
    """A pickle of protocol 2-5 starts with PROTO (0x80) and its version; a safetensors file
    starts with an 8-byte header length, then '{'."""
    return len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5 and data[8:9] != b"{"


def encode_tensors(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    return save_safetensors({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=metadata)


def write_archive(path: str | os.PathLike[str], header: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    """Writes `header` (JSON) and `tensors` as a model archive, atomically."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(JSON_MEMBER, json.dumps(header))
        zf.writestr(TENSORS_MEMBER, encode_tensors(tensors))
    atomic_write(path, buffer.getvalue())


def write_file(path: str | os.PathLike[str], write: Any, overwrite: bool) -> None:
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"Expected a file path to save to, got the directory {path!r}")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path!r} exists; pass overwrite=True to replace it")
    write(path)


class DoesNotFit(ValueError):
    """A whole, readable file whose tensors do not fit the model they are meant for."""


def refuse(path: str, problem: str) -> ValueError:
    return ValueError(f"Cannot load {path!r}: {problem}")


# bytes per element of each safetensors dtype
ITEM_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
               "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8, "C64": 8, "C128": 16}

# (safetensors dtype, shape) of each tensor a safetensors header declares
Declared = dict[str, tuple[str, tuple[int, ...]]]


def _json_depth(value: Any) -> int:
    """How deeply lists and dicts nest in `value`, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _declared_tensors(path: str, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Declared:
    """The tensors the safetensors member declares, read from its header alone (nothing else of
    it is inflated); their sizes must add up to the member's. A pickle in its place is refused."""
    try:
        with zf.open(info) as f:
            start = f.read(16)
            size = int.from_bytes(start[:8], "little") if len(start) >= 8 else -1
            valid = 0 < size <= min(info.file_size - 8, MAX_JSON_BYTES)
            # the header's `size` bytes: what `start` holds past the length, then the rest
            raw = (start[8:] + f.read(max(0, size + 8 - len(start))))[:size] if valid and not _looks_like_pickle(start) else b""
    except ZIP_ERRORS as err:  # bad CRC, cut short, a version or method zipfile lacks
        raise refuse(path, f"member {TENSORS_MEMBER!r} is damaged ({err})") from None
    if _looks_like_pickle(start):
        raise refuse(path, f"member {TENSORS_MEMBER!r} holds a pickle, which lstmkit never loads (it can run code)")
    if not valid:
        raise refuse(path, f"{TENSORS_MEMBER} is damaged (its header declares {size:,} bytes)")
    try:
        spec = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise refuse(path, f"{TENSORS_MEMBER} is damaged ({type(err).__name__}: {str(err)[:200]})") from None
    if not isinstance(spec, dict):
        raise refuse(path, f"{TENSORS_MEMBER} is damaged (its header is not a JSON object)")
    declared: Declared = {}
    end = 0
    for name, entry in spec.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (start, stop) = entry["dtype"], tuple(entry["shape"]), entry["data_offsets"]
            if dtype not in ITEM_BYTES or not all(isinstance(d, int) and d >= 0 for d in (*shape, start, stop)):
                raise ValueError(entry)
        except (TypeError, KeyError, ValueError):
            raise refuse(path, f"{TENSORS_MEMBER} is damaged (tensor {name!r}: {str(entry)[:100]})") from None
        if math.prod(shape) * ITEM_BYTES[dtype] != stop - start:
            raise refuse(path, f"{TENSORS_MEMBER} is damaged (tensor {name!r} of shape {shape} spans {stop - start:,} bytes)")
        declared[name] = (dtype, shape)
        end = max(end, stop)
    if 8 + size + end != info.file_size:
        raise refuse(path, f"{TENSORS_MEMBER} is damaged (its tensors take {end:,} bytes after a header of {size:,}; "
                            f"the member holds {info.file_size:,})")
    return declared


def _declared_member_count(path: str) -> int | None:
    """The member count in the zip's end-of-central-directory record (read before zipfile parses
    a directory that may list thousands of entries); None where there is no such record."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - (1 << 16) - 22))
        tail = f.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return None
    return int.from_bytes(tail[at + 10 : at + 12], "little")  # 0xFFFF: the count is in a zip64 record


def read_archive(
    path: str | os.PathLike[str], check: Callable[[dict[str, Any], Declared], None] | None = None
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(header, tensors) of a model or checkpoint archive, checked as the module docstring says.

    `check(header, declared)`, when given, sees the JSON and the tensors' declared names, dtypes
    and shapes before any tensor data is inflated, and raises to refuse the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No file at {path!r}")
    count = _declared_member_count(path)
    if count is not None and count > MAX_MEMBERS:
        raise refuse(path, f"it lists {count:,} members{' or more' if count == 0xFFFF else ''}; a model file holds "
                            f"{JSON_MEMBER} and {TENSORS_MEMBER}")
    try:
        zf = zipfile.ZipFile(path)
    except ZIP_ERRORS as err:
        raise refuse(path, f"not a whole lstmkit model file: not a zip archive, or cut short ({err})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise refuse(path, f"it holds {len(infos):,} members; a model file holds {JSON_MEMBER} and {TENSORS_MEMBER}")
        for info in infos:
            name = info.filename
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
                raise refuse(path, f"member {name!r} names a path outside the archive (path traversal); refused")
            if name.lower().endswith(_PICKLE_SUFFIXES):
                raise refuse(path, f"member {name!r} is a pickle, which lstmkit never loads (it can run code)")
        names = unique_names(path, zf, refuse)
        unexpected = sorted(set(names) - {JSON_MEMBER, TENSORS_MEMBER})
        if "config.json" in names and JSON_MEMBER not in names:
            raise refuse(path, "it is a Keras .keras file, which lstmkit does not read: load it in Keras and move "
                                "its weights with model.set_weights(keras_model.get_weights())")
        if unexpected:
            raise refuse(path, f"unexpected members {unexpected}; a model file holds {JSON_MEMBER} and {TENSORS_MEMBER} only")
        missing = sorted({JSON_MEMBER, TENSORS_MEMBER} - set(names))
        if missing:
            raise refuse(path, f"members {missing} are missing")
        for info in infos:
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise refuse(path, f"member {info.filename!r} uses compression method {info.compress_type}, which "
                                    "lstmkit does not read")
        raw_header = read_member(path, zf, zf.getinfo(JSON_MEMBER), MAX_JSON_BYTES, refuse)
        if _looks_like_pickle(raw_header):
            raise refuse(path, f"member {JSON_MEMBER!r} holds a pickle, which lstmkit never loads (it can run code)")
        try:
            header = json.loads(raw_header.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as err:
            raise refuse(path, f"{JSON_MEMBER} is not valid JSON ({type(err).__name__}: {str(err)[:200]})") from None
        if _json_depth(header) > MAX_JSON_DEPTH:
            raise refuse(path, f"{JSON_MEMBER} nests lists and dicts more than {MAX_JSON_DEPTH} deep")
        if not isinstance(header, dict) or header.get("format") not in (MODEL_FORMAT, CHECKPOINT_FORMAT):
            raise refuse(path, f"{JSON_MEMBER} has no lstmkit format tag (expected format {MODEL_FORMAT!r})")
        tensors_info = zf.getinfo(TENSORS_MEMBER)
        if tensors_info.file_size > MAX_TENSOR_BYTES:
            raise refuse(path, f"member {TENSORS_MEMBER!r} declares {tensors_info.file_size:,} bytes, above the limit "
                                f"of {MAX_TENSOR_BYTES:,}")
        declared = _declared_tensors(path, zf, tensors_info)
        if check is not None:
            check(header, declared)
        raw_tensors = read_member(path, zf, tensors_info, MAX_TENSOR_BYTES, refuse)
    try:
        tensors = load_safetensors(raw_tensors)
    except (SafetensorError, ValueError, RuntimeError, OSError) as err:
        raise refuse(path, f"{TENSORS_MEMBER} is damaged ({type(err).__name__}: {str(err)[:200]})") from None
    return header, tensors


def read_file(
    path: str | os.PathLike[str], check: Callable[[dict[str, Any], Declared], None] | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, header) of a model archive (`check` as `read_archive` takes it) or a
    `save_weights` safetensors file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No file at {path!r}")
    with open(path, "rb") as f:
        start = f.read(16)
    if start.startswith(b"PK"):
        header, tensors = read_archive(path, check)
        return tensors, header
    if _looks_like_pickle(start):
        raise refuse(path, "it is a pickle (torch.save?), which lstmkit never loads (it can run code)")
    if os.path.getsize(path) > MAX_TENSOR_BYTES:
        raise refuse(path, f"{os.path.getsize(path):,} bytes, above the limit of {MAX_TENSOR_BYTES:,}")
    try:
        with safe_open(path, framework="pt") as f:
            metadata = dict(f.metadata() or {})
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as err:  # safetensors raises its own error types for foreign files
        raise ValueError(
            f"{path!r} is not a file written by lstmkit's save/save_weights ({type(err).__name__}: {err}). "
            "Keras's .keras and .h5 files cannot be read here: load the Keras model in Keras and move its "
            "weights with model.set_weights(keras_model.get_weights())"
        ) from None
    if metadata.get("format") != WEIGHTS_FORMAT:
        raise ValueError(f"{path!r} is a safetensors file, but not one written by lstmkit (no lstmkit format tag)")
    return tensors, dict(metadata)


