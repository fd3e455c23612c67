"""Saving and loading models: one safetensors file, no pickle.

`save_model` writes a single file in the safetensors format (a JSON header, then raw tensors):

    tensors   weights.<state_dict key>            the model's weights (and persistent buffers)
              optimizer.<param index>.<name>       the optimizer's per-weight state (Adam's m, v, ...)
    metadata  format          "lstmkit.model" (or "lstmkit.weights" for save_weights files)
              model_config    the architecture as JSON: {"class_name": "Sequential", "config": ...}
              compile_config  optimizer class and settings, loss and metric names (when compiled)
              optimizer_state iteration count, learning rate and torch's param_groups (when built)
              extras          what the program saved beside the model, as JSON (a recipe keeps its
                              tokenizer or character vocabulary here); `load_extras` reads it

Files are written to a temporary name beside the target and renamed into place, so a crash
mid-write leaves the previous file whole. Any tool that reads safetensors can read the weights.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Mapping

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .. import serialization
from .._version import __version__

MODEL_FORMAT = "lstmkit.model"
WEIGHTS_FORMAT = "lstmkit.weights"


def _write(path: str | os.PathLike[str], tensors: dict[str, torch.Tensor], metadata: dict[str, str], overwrite: bool) -> None:
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"Expected a file path to save to, got the directory {path!r}")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path!r} exists; pass overwrite=True to replace it")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    handle, temporary = tempfile.mkstemp(prefix=".lstmkit-", suffix=".tmp", dir=directory)
    os.close(handle)
    try:
        save_file(tensors, temporary, metadata=metadata)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def _read(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No file at {path!r}")
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
    if metadata.get("format") not in (MODEL_FORMAT, WEIGHTS_FORMAT):
        raise ValueError(f"{path!r} is a safetensors file, but not one written by lstmkit (no lstmkit format tag)")
    return tensors, metadata


def _weights(model: Any) -> dict[str, torch.Tensor]:
    return {f"weights.{key}": value for key, value in model.state_dict().items()}


def save_weights(model: Any, path: str | os.PathLike[str], overwrite: bool = True) -> None:
    """Writes the model's weights alone."""
    _require_built(model, "save_weights")
    _write(path, _weights(model), {"format": WEIGHTS_FORMAT, "lstmkit_version": __version__}, overwrite)


def save_model(
    model: Any, path: str | os.PathLike[str], overwrite: bool = True, extras: Mapping[str, Any] | None = None
) -> None:
    """Writes the architecture, the weights and, when compiled, the training setup and optimizer state.

    Args:
        extras: JSON-serialisable values kept in the same file (a tokenizer, a vocabulary), read
            back with `load_extras(path)`.
    """
    _require_built(model, "save")
    tensors = _weights(model)
    metadata = {
        "format": MODEL_FORMAT,
        "lstmkit_version": __version__,
        "model_config": json.dumps(
            {"class_name": type(model).__name__, "config": serialization.to_json(model.get_config(), "model config")}
        ),
    }
    if extras is not None:
        if not isinstance(extras, Mapping) or not all(isinstance(k, str) for k in extras):
            raise ValueError(f"extras must be a dict with string keys, got extras={extras!r:.200}")
        try:
            metadata["extras"] = json.dumps(dict(extras))
        except (TypeError, ValueError) as err:
            raise ValueError(f"extras must hold JSON values only (strings, numbers, lists, dicts): {err}") from None
    if model.compiled:
        optimizer = model.optimizer
        metadata["compile_config"] = json.dumps(
            {
                "optimizer": {"class_name": type(optimizer).__name__, "config": optimizer.get_config()},
                "loss": serialization.to_json(model.loss, "loss"),
                "metrics": [serialization.to_json(m, "metrics") for _, m in model._metric_specs],
            }
        )
        if optimizer.built:
            state = optimizer.state_dict()
            for index, per_param in state["state"].items():
                for name, value in per_param.items():
                    tensors[f"optimizer.{index}.{name}"] = torch.as_tensor(value)
            metadata["optimizer_state"] = json.dumps({"param_groups": state["param_groups"], "keras": state["keras"]})
    _write(path, tensors, metadata, overwrite)


def load_model(
    path: str | os.PathLike[str], custom_objects: Mapping[str, Any] | None = None, compile: bool = True
) -> Any:
    """Rebuilds a model written by `model.save(path)`; compiled, with its optimizer state, when
    it was saved compiled and `compile` is True, so `fit` continues where it stopped.

    Args:
        path: The file.
        custom_objects: Functions the model uses by name (custom activations, losses, metrics).
        compile: Restore the optimizer, loss and metrics.
    """
    from ..training import optimizers
    from .sequential import Sequential

    tensors, metadata = _read(path)
    if metadata["format"] != MODEL_FORMAT:
        raise ValueError(
            f"{os.fspath(path)!r} holds weights only (written by save_weights): build the model, then call "
            "model.load_weights(path)"
        )
    spec = json.loads(metadata["model_config"])
    if spec.get("class_name") != "Sequential":
        raise ValueError(f"Cannot rebuild a model of class {spec.get('class_name')!r}")
    model = Sequential.from_config(serialization.from_json(spec["config"], custom_objects))
    if not model.built:
        raise ValueError(f"The model saved in {os.fspath(path)!r} has no input shape, so it cannot be rebuilt")
    _load_weights_into(model, tensors, path)
    if compile and "compile_config" in metadata:
        setup = json.loads(metadata["compile_config"])
        optimizer_cls = getattr(optimizers, setup["optimizer"]["class_name"], None)
        if not (isinstance(optimizer_cls, type) and issubclass(optimizer_cls, optimizers.Optimizer)):
            raise ValueError(f"Unknown optimizer class {setup['optimizer']['class_name']!r} in {os.fspath(path)!r}")
        model.compile(
            optimizer=optimizer_cls(**setup["optimizer"]["config"]),
            loss=serialization.from_json(setup["loss"], custom_objects),
            metrics=[serialization.from_json(m, custom_objects) for m in setup["metrics"]],
        )
        if "optimizer_state" in metadata:
            assert model.optimizer is not None  # compile just set it
            model._bind_optimizer()
            state = json.loads(metadata["optimizer_state"])
            per_param: dict[int, dict[str, torch.Tensor]] = {}
            for key, value in tensors.items():
                if key.startswith("optimizer."):
                    _, index, name = key.split(".", 2)
                    per_param.setdefault(int(index), {})[name] = value.to(model.device)
            model.optimizer.load_state_dict({"state": per_param, **state})
    return model


def load_extras(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The `extras` dict saved with the model in `path` (empty when none was)."""
    _, metadata = _read(path)
    return dict(json.loads(metadata["extras"])) if "extras" in metadata else {}


def load_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """Loads weights from a `save_weights` or `save` file into a built model of the same architecture."""
    _require_built(model, "load_weights")
    tensors, _ = _read(path)
    _load_weights_into(model, tensors, path)


def _load_weights_into(model: Any, tensors: Mapping[str, torch.Tensor], path: str | os.PathLike[str]) -> None:
    saved = {key[len("weights."):]: value for key, value in tensors.items() if key.startswith("weights.")}
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(saved)), sorted(set(saved) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"The weights in {os.fspath(path)!r} do not fit model {model.name!r}: "
            + "; ".join(
                part
                for part in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"not in the model: {', '.join(unexpected)}" if unexpected else "",
                )
                if part
            )
        )
    for key, value in saved.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise ValueError(
                f"The weight {key} in {os.fspath(path)!r} has shape {tuple(value.shape)}; "
                f"model {model.name!r} has {tuple(expected[key].shape)} there"
            )
    if any(v.dtype == torch.float64 for v in saved.values()):
        model.double()
    model.load_state_dict(saved)


def _require_built(model: Any, method: str) -> None:
    if not model.built:
        raise ValueError(
            f"Model {model.name!r} is not built, so it has no weights for {method}: give it an input shape "
            "or call it on data first"
        )
