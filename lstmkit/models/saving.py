"""Saving and loading models: a zip of JSON and safetensors, read with limits, never pickle.

`save_model` writes a zip archive (stored, not compressed) with exactly two members:

    lstmkit.json          {"format": "lstmkit.model", "lstmkit_version", "model_config" (the
                          architecture), "compile_config" (optimizer class and settings, loss
                          and metric names; when compiled), "optimizer_state" (iteration count,
                          learning rate, torch's param_groups; when built), "extras" (JSON values
                          the program kept beside the model; `load_extras` reads them)}
    tensors.safetensors   weights.<state_dict key>         the model's weights and buffers
                          optimizer.<param index>.<name>    the optimizer's per-weight state

Checkpoints (`fit(checkpoint_dir=...)`) are the same archive with format "lstmkit.checkpoint"
and the run's state added (see `lstmkit.training.checkpoints`). `save_weights` writes a bare
safetensors file with the weights alone. Every file is written by `lstmkit._io.atomic_write`:
a temporary file, fsynced, renamed over the target, so a crash leaves the previous file whole.

Reading checks, before anything is built: the archive is whole (zip directory and CRCs), its
member names are exactly the two above (a name that climbs out of the archive, or a pickle, is
refused by name), sizes are within `MAX_JSON_BYTES` / `MAX_TENSOR_BYTES` and agree with the
compression, the JSON parses to the keys expected (nested at most `MAX_JSON_DEPTH` deep), the
tensors parse as safetensors, and the weights' names and shapes fit the architecture: that is
checked against the safetensors header alone, with the architecture built on the meta device
and its initialisation skipped, before any tensor data is inflated or any weight allocated. Layers are rebuilt from this package's
classes by name only; the user's own functions come from `custom_objects`, never from the file.
"""

from __future__ import annotations

import collections
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

from .. import initializers, serialization
from .._io import atomic_write
from .._version import __version__

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


def _encode_tensors(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    return save_safetensors({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=metadata)


def write_archive(path: str | os.PathLike[str], header: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    """Writes `header` (JSON) and `tensors` as a model archive, atomically."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(JSON_MEMBER, json.dumps(header))
        zf.writestr(TENSORS_MEMBER, _encode_tensors(tensors))
    atomic_write(path, buffer.getvalue())


def _write(path: str | os.PathLike[str], write: Any, overwrite: bool) -> None:
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"Expected a file path to save to, got the directory {path!r}")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path!r} exists; pass overwrite=True to replace it")
    write(path)


class DoesNotFit(ValueError):
    """A whole, readable file whose tensors do not fit the model they are meant for."""


def _refuse(path: str, problem: str) -> ValueError:
    return ValueError(f"Cannot load {path!r}: {problem}")


def _read_member(path: str, zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    if info.file_size > limit:
        raise _refuse(path, f"member {info.filename!r} declares {info.file_size:,} bytes, above the limit of {limit:,}")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _refuse(path, f"member {info.filename!r} uses compression method {info.compress_type}, which lstmkit does not read")
    if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > 200 * max(info.compress_size, 1) + (1 << 20):
        raise _refuse(path, f"member {info.filename!r} would expand {info.compress_size:,} bytes to {info.file_size:,} (a zip bomb?)")
    try:
        with zf.open(info) as f:
            data = f.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:  # bad CRC, cut short
        raise _refuse(path, f"member {info.filename!r} is damaged ({err})") from None
    if len(data) != info.file_size:
        raise _refuse(path, f"member {info.filename!r} holds {len(data):,} bytes, not the {info.file_size:,} it declares")
    return data


# bytes per element of each safetensors dtype
_ITEM_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
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
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:  # bad CRC, cut short
        raise _refuse(path, f"member {TENSORS_MEMBER!r} is damaged ({err})") from None
    if _looks_like_pickle(start):
        raise _refuse(path, f"member {TENSORS_MEMBER!r} holds a pickle, which lstmkit never loads (it can run code)")
    if not valid:
        raise _refuse(path, f"{TENSORS_MEMBER} is damaged (its header declares {size:,} bytes)")
    try:
        spec = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise _refuse(path, f"{TENSORS_MEMBER} is damaged ({type(err).__name__}: {str(err)[:200]})") from None
    if not isinstance(spec, dict):
        raise _refuse(path, f"{TENSORS_MEMBER} is damaged (its header is not a JSON object)")
    declared: Declared = {}
    end = 0
    for name, entry in spec.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (start, stop) = entry["dtype"], tuple(entry["shape"]), entry["data_offsets"]
            if dtype not in _ITEM_BYTES or not all(isinstance(d, int) and d >= 0 for d in (*shape, start, stop)):
                raise ValueError(entry)
        except (TypeError, KeyError, ValueError):
            raise _refuse(path, f"{TENSORS_MEMBER} is damaged (tensor {name!r}: {str(entry)[:100]})") from None
        if math.prod(shape) * _ITEM_BYTES[dtype] != stop - start:
            raise _refuse(path, f"{TENSORS_MEMBER} is damaged (tensor {name!r} of shape {shape} spans {stop - start:,} bytes)")
        declared[name] = (dtype, shape)
        end = max(end, stop)
    if 8 + size + end != info.file_size:
        raise _refuse(path, f"{TENSORS_MEMBER} is damaged (its tensors take {end:,} bytes after a header of {size:,}; "
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
        raise _refuse(path, f"it lists {count:,} members{' or more' if count == 0xFFFF else ''}; a model file holds "
                            f"{JSON_MEMBER} and {TENSORS_MEMBER}")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise _refuse(path, f"not a whole lstmkit model file: not a zip archive, or cut short ({err})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise _refuse(path, f"it holds {len(infos):,} members; a model file holds {JSON_MEMBER} and {TENSORS_MEMBER}")
        for info in infos:
            name = info.filename
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
                raise _refuse(path, f"member {name!r} names a path outside the archive (path traversal); refused")
            if name.lower().endswith(_PICKLE_SUFFIXES):
                raise _refuse(path, f"member {name!r} is a pickle, which lstmkit never loads (it can run code)")
        names = [info.filename for info in infos]
        twice = sorted(name for name, n in collections.Counter(names).items() if n > 1)
        if twice:
            raise _refuse(path, f"members appear twice: {twice}")
        unexpected = sorted(set(names) - {JSON_MEMBER, TENSORS_MEMBER})
        if "config.json" in names and JSON_MEMBER not in names:
            raise _refuse(path, "it is a Keras .keras file, which lstmkit does not read: load it in Keras and move "
                                "its weights with model.set_weights(keras_model.get_weights())")
        if unexpected:
            raise _refuse(path, f"unexpected members {unexpected}; a model file holds {JSON_MEMBER} and {TENSORS_MEMBER} only")
        missing = sorted({JSON_MEMBER, TENSORS_MEMBER} - set(names))
        if missing:
            raise _refuse(path, f"members {missing} are missing")
        for info in infos:
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _refuse(path, f"member {info.filename!r} uses compression method {info.compress_type}, which "
                                    "lstmkit does not read")
        raw_header = _read_member(path, zf, zf.getinfo(JSON_MEMBER), MAX_JSON_BYTES)
        if _looks_like_pickle(raw_header):
            raise _refuse(path, f"member {JSON_MEMBER!r} holds a pickle, which lstmkit never loads (it can run code)")
        try:
            header = json.loads(raw_header.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as err:
            raise _refuse(path, f"{JSON_MEMBER} is not valid JSON ({type(err).__name__}: {str(err)[:200]})") from None
        if _json_depth(header) > MAX_JSON_DEPTH:
            raise _refuse(path, f"{JSON_MEMBER} nests lists and dicts more than {MAX_JSON_DEPTH} deep")
        if not isinstance(header, dict) or header.get("format") not in (MODEL_FORMAT, CHECKPOINT_FORMAT):
            raise _refuse(path, f"{JSON_MEMBER} has no lstmkit format tag (expected format {MODEL_FORMAT!r})")
        tensors_info = zf.getinfo(TENSORS_MEMBER)
        if tensors_info.file_size > MAX_TENSOR_BYTES:
            raise _refuse(path, f"member {TENSORS_MEMBER!r} declares {tensors_info.file_size:,} bytes, above the limit "
                                f"of {MAX_TENSOR_BYTES:,}")
        declared = _declared_tensors(path, zf, tensors_info)
        if check is not None:
            check(header, declared)
        raw_tensors = _read_member(path, zf, tensors_info, MAX_TENSOR_BYTES)
    try:
        tensors = load_safetensors(raw_tensors)
    except (SafetensorError, ValueError, RuntimeError, OSError) as err:
        raise _refuse(path, f"{TENSORS_MEMBER} is damaged ({type(err).__name__}: {str(err)[:200]})") from None
    return header, tensors


def _read(
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
        raise _refuse(path, "it is a pickle (torch.save?), which lstmkit never loads (it can run code)")
    if os.path.getsize(path) > MAX_TENSOR_BYTES:
        raise _refuse(path, f"{os.path.getsize(path):,} bytes, above the limit of {MAX_TENSOR_BYTES:,}")
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


def _weights(model: Any) -> dict[str, torch.Tensor]:
    return {f"weights.{key}": value for key, value in model.state_dict().items()}


def save_weights(model: Any, path: str | os.PathLike[str], overwrite: bool = True) -> None:
    """Writes the model's weights alone, as a bare safetensors file."""
    _require_built(model, "save_weights")
    data = _encode_tensors(_weights(model), {"format": WEIGHTS_FORMAT, "lstmkit_version": __version__})
    _write(path, lambda p: atomic_write(p, data), overwrite)


def model_state(model: Any, extras: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The header and tensors that `save_model` writes: architecture, compile settings,
    weights and optimizer state."""
    _require_built(model, "save")
    tensors = _weights(model)
    header: dict[str, Any] = {
        "format": MODEL_FORMAT,
        "lstmkit_version": __version__,
        "model_config": {"class_name": type(model).__name__, "config": serialization.to_json(model.get_config(), "model config")},
    }
    if extras is not None:
        if not isinstance(extras, Mapping) or not all(isinstance(k, str) for k in extras):
            raise ValueError(f"extras must be a dict with string keys, got extras={extras!r:.200}")
        try:
            header["extras"] = json.loads(json.dumps(dict(extras)))
        except (TypeError, ValueError) as err:
            raise ValueError(f"extras must hold JSON values only (strings, numbers, lists, dicts): {err}") from None
    if model.compiled:
        optimizer = model.optimizer
        header["compile_config"] = {
            "optimizer": {"class_name": type(optimizer).__name__, "config": optimizer.get_config()},
            "loss": serialization.to_json(model.loss, "loss"),
            "metrics": [serialization.to_json(m, "metrics") for _, m in model._metric_specs],
        }
        if optimizer.built:
            state = optimizer.state_dict()
            for index, per_param in state["state"].items():
                for name, value in per_param.items():
                    tensors[f"optimizer.{index}.{name}"] = torch.as_tensor(value)
            header["optimizer_state"] = {"param_groups": state["param_groups"], "keras": state["keras"]}
    return header, tensors


def save_model(
    model: Any, path: str | os.PathLike[str], overwrite: bool = True, extras: Mapping[str, Any] | None = None
) -> None:
    """Writes the architecture, the weights and, when compiled, the training setup and optimizer state.

    Args:
        extras: JSON-serialisable values kept in the same file (a tokenizer, a vocabulary), read
            back with `load_extras(path)`.
    """
    header, tensors = model_state(model, extras)
    _write(path, lambda p: write_archive(p, header, tensors), overwrite)


def _field(header: Mapping[str, Any], key: str, path: str, kind: type = dict) -> Any:
    if key not in header:
        raise _refuse(path, f"{JSON_MEMBER} lacks the key {key!r}")
    value = header[key]
    if not isinstance(value, kind):
        raise _refuse(path, f"{JSON_MEMBER}[{key!r}] should be a {kind.__name__}, got {type(value).__name__}")
    return value


def _architecture(header: Mapping[str, Any], path: str, custom_objects: Mapping[str, Any] | None) -> Any:
    """The model the header's architecture describes, built, its weights allocated but not drawn
    (they are loaded next); under `torch.device("meta")`, shapes alone."""
    from .sequential import Sequential

    spec = _field(header, "model_config", path)
    if spec.get("class_name") != "Sequential" or not isinstance(spec.get("config"), dict):
        raise _refuse(path, f"cannot rebuild a model of class {spec.get('class_name')!r}")
    try:
        with initializers.skip_initialization():
            model = Sequential.from_config(serialization.from_json(spec["config"], custom_objects))
    except (TypeError, KeyError, ValueError, AttributeError, RuntimeError, OverflowError) as err:
        raise _refuse(path, f"the architecture in {JSON_MEMBER} is not valid ({type(err).__name__}: {str(err)[:300]})") from None
    if not model.built:
        raise ValueError(f"The model saved in {path!r} has no input shape, so it cannot be rebuilt")
    return model


def _fits_the_architecture(path: str, custom_objects: Mapping[str, Any] | None) -> Callable[[dict[str, Any], Declared], None]:
    """A `read_archive` check: the architecture, built on the meta device (no memory, no time),
    names the weights and shapes the stored tensors must have, before any of them is read."""

    def check(header: dict[str, Any], declared: Declared) -> None:
        with torch.device("meta"):
            shapes = _architecture(header, path, custom_objects)
        fits_model(shapes, path)(header, declared)

    return check


MAX_STATE_BYTES = 64 << 20  # a checkpoint's run state beside the weights: generator states, a few figures


def fits_model(model: Any, path: str) -> Callable[[dict[str, Any], Declared], None]:
    """A `read_archive` check against a built model: the stored weights have its names and
    shapes, each optimizer tensor the shape of its weight, and the rest (a checkpoint's run state)
    stays small, so that what a file makes lstmkit inflate is bounded by the model's own size."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    params = [tuple(p.shape) for p in model.parameters()]

    def check(header: dict[str, Any], declared: Declared) -> None:
        stored = {k[len("weights."):]: shape for k, (_, shape) in declared.items() if k.startswith("weights.")}
        _check_weight_names_and_shapes(stored, expected, path, model.name)
        other = 0
        for key, (dtype, shape) in declared.items():
            if key.startswith("optimizer."):
                index = key.split(".")[1]
                if not index.isdigit() or int(index) >= len(params) or shape != params[int(index)]:
                    raise DoesNotFit(f"Cannot load {path!r}: the optimizer tensor {key!r} of shape {shape} fits none of the model's weights")
            elif not key.startswith("weights."):
                other += math.prod(shape) * _ITEM_BYTES[dtype]
        if other > MAX_STATE_BYTES:
            raise DoesNotFit(f"Cannot load {path!r}: it holds {other:,} bytes of tensors beside the weights and optimizer state, above the "
                                f"limit of {MAX_STATE_BYTES:,}")

    return check


def _check_weight_names_and_shapes(
    stored: Mapping[str, tuple[int, ...]], expected: Mapping[str, tuple[int, ...]], path: str | os.PathLike[str],
    model_name: str,
) -> None:
    missing, unexpected = sorted(set(expected) - set(stored)), sorted(set(stored) - set(expected))
    if missing or unexpected:
        raise DoesNotFit(
            f"The weights in {os.fspath(path)!r} do not fit model {model_name!r}: "
            + "; ".join(
                part
                for part in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"not in the model: {', '.join(unexpected)}" if unexpected else "",
                )
                if part
            )
        )
    for key, shape in stored.items():
        if tuple(shape) != tuple(expected[key]):
            raise DoesNotFit(
                f"The weight {key} in {os.fspath(path)!r} has shape {tuple(shape)}; "
                f"model {model_name!r} has {tuple(expected[key])} there"
            )


def rebuild_model(
    header: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], path: str,
    custom_objects: Mapping[str, Any] | None = None, compile: bool = True,
) -> Any:
    """The model a `model_state` header and tensors describe, weights loaded, compiled when asked."""
    from ..training import optimizers

    model = _architecture(header, path, custom_objects)
    _load_weights_into(model, tensors, path)
    if compile and "compile_config" in header:
        setup = _field(header, "compile_config", path)
        try:
            optimizer_cls = getattr(optimizers, setup["optimizer"]["class_name"], None)
            if not (isinstance(optimizer_cls, type) and issubclass(optimizer_cls, optimizers.Optimizer)):
                raise ValueError(f"unknown optimizer class {setup['optimizer']['class_name']!r}")
            if optimizer_cls.update is optimizers.Optimizer.update:  # the shared base: it has no update rule
                raise ValueError(f"optimizer class {setup['optimizer']['class_name']!r} is abstract; a file names "
                                 f"one of {', '.join(sorted(optimizers._REGISTRY))}")
            model.compile(
                optimizer=optimizer_cls(**setup["optimizer"]["config"]),
                loss=serialization.from_json(setup["loss"], custom_objects),
                metrics=[serialization.from_json(m, custom_objects) for m in setup["metrics"]],
            )
        except (TypeError, KeyError, ValueError) as err:
            raise _refuse(path, f"the compile settings in {JSON_MEMBER} are not valid ({type(err).__name__}: {err})") from None
        if "optimizer_state" in header:
            load_optimizer_state(model, header, tensors, path)
    return model


def load_optimizer_state(model: Any, header: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], path: str) -> None:
    """Puts the saved optimizer state into `model`'s (compiled) optimizer."""
    assert model.optimizer is not None
    model._bind_optimizer()
    state = _field(header, "optimizer_state", path)
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            try:
                _, index, name = key.split(".", 2)
                per_param.setdefault(int(index), {})[name] = value.to(model.device)
            except ValueError:
                raise _refuse(path, f"tensor name {key!r} is not optimizer.<index>.<name>") from None
    try:
        model.optimizer.load_state_dict({"state": per_param, **state})
    except (TypeError, KeyError, ValueError, RuntimeError) as err:
        raise _refuse(path, f"the optimizer state does not fit the model's optimizer ({type(err).__name__}: {err})") from None


def load_model(
    path: str | os.PathLike[str], custom_objects: Mapping[str, Any] | None = None, compile: bool = True
) -> Any:
    """Rebuilds a model written by `model.save(path)`; compiled, with its optimizer state, when
    it was saved compiled and `compile` is True, so `fit` continues where it stopped.

    Args:
        path: The file.
        custom_objects: Functions the model uses by name (custom activations, losses, metrics).
        compile: Restore the optimizer, loss and metrics.

    Raises:
        ValueError: For a file that is not a whole lstmkit model, naming the file and the problem.
    """
    tensors, header = _read(path, _fits_the_architecture(os.fspath(path), custom_objects))
    if header["format"] == WEIGHTS_FORMAT:
        raise ValueError(
            f"{os.fspath(path)!r} holds weights only (written by save_weights): build the model, then call "
            "model.load_weights(path)"
        )
    return rebuild_model(header, tensors, os.fspath(path), custom_objects, compile)


def load_extras(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The `extras` dict saved with the model in `path` (empty when none was)."""
    _, header = _read(path)
    extras = header.get("extras", {})
    if not isinstance(extras, dict):
        raise _refuse(os.fspath(path), f"{JSON_MEMBER}['extras'] should be a dict, got {type(extras).__name__}")
    return dict(extras)


def load_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """Loads weights from a `save_weights` or `save` file into a built model of the same architecture."""
    _require_built(model, "load_weights")
    tensors, _ = _read(path)
    _load_weights_into(model, tensors, path)


def _load_weights_into(model: Any, tensors: Mapping[str, torch.Tensor], path: str | os.PathLike[str]) -> None:
    saved = {key[len("weights."):]: value for key, value in tensors.items() if key.startswith("weights.")}
    expected = model.state_dict()
    _check_weight_names_and_shapes({k: tuple(v.shape) for k, v in saved.items()},
                                   {k: tuple(v.shape) for k, v in expected.items()}, path, model.name)
    for key, value in saved.items():
        if not value.is_floating_point():  # int8, bool, complex: casting would lose or invent values
            raise ValueError(f"The weight {key} in {os.fspath(path)!r} is stored as {str(value.dtype).replace('torch.', '')}; "
                             f"lstmkit weights are floating point (float32 or float64)")
    if any(v.dtype == torch.float64 for v in saved.values()):
        model.double()
    model.load_state_dict(saved)


def _require_built(model: Any, method: str) -> None:
    if not model.built:
        raise ValueError(
            f"Model {model.name!r} is not built, so it has no weights for {method}: give it an input shape "
            "or call it on data first"
        )
