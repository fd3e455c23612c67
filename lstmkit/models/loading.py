"""`load_model` and `load_extras`: models back from the files `model.save` writes.

The file is read as `lstmkit.saving.archive` says; before any tensor data is inflated, the
architecture it describes is built on the meta device (no memory, no initialisation) and the
stored weights' names and shapes are checked against it. Layers and models are rebuilt from
lstmkit's own classes by name (`lstmkit.layers.registry`); the user's functions (custom
activations, losses, metrics, a Lambda's function) and layer classes come from
`custom_objects`, never from the file.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Mapping

import torch

from .. import initializers, serialization
from ..layers.registry import deserialize
from ..saving.archive import JSON_MEMBER, WEIGHTS_FORMAT, Declared, read_file, refuse
from ..saving.weights import fits_module, load_weights_into
from ..training.model_file import field, restore_compile
from . import keras_files
from .model import Model

_ERRORS = (TypeError, KeyError, ValueError, AttributeError, RuntimeError, OverflowError, IndexError)


def architecture(header: Mapping[str, Any], path: str, custom_objects: Mapping[str, Any] | None) -> Model:
    """The model the header's architecture describes, built, its weights allocated but not drawn
    (they are loaded next); under `torch.device("meta")`, shapes alone."""
    spec = field(header, "model_config", path)
    if not isinstance(spec.get("config"), dict):
        raise refuse(path, f"{JSON_MEMBER}['model_config'] has no config")
    try:
        config = serialization.from_json(spec["config"], custom_objects)
    except ValueError as err:  # a function it names is not in custom_objects
        raise refuse(path, str(err)) from None
    try:
        with initializers.skip_initialization():
            model = deserialize({"class_name": spec.get("class_name"), "config": config}, custom_objects)
    except _ERRORS as err:
        raise refuse(path, f"the architecture in {JSON_MEMBER} is not valid ({type(err).__name__}: {str(err)[:300]})") from None
    if not isinstance(model, Model):
        raise refuse(path, f"cannot rebuild a model of class {spec.get('class_name')!r}")
    if not model.built:
        raise ValueError(f"The model saved in {path!r} has no input shape, so it cannot be rebuilt")
    return model


def _fits_the_architecture(path: str, custom_objects: Mapping[str, Any] | None) -> Callable[[dict[str, Any], Declared], None]:
    """A `read_archive` check: the architecture, built on the meta device (no memory, no time),
    names the weights and shapes the stored tensors must have, before any of them is read."""

    def check(header: dict[str, Any], declared: Declared) -> None:
        with torch.device("meta"):
            shapes = architecture(header, path, custom_objects)
        fits_module(shapes, path, shapes.name)(header, declared)

    return check


def load_model(
    path: str | os.PathLike[str], custom_objects: Mapping[str, Any] | None = None, compile: bool = True
) -> Model:
    """Rebuilds a model written by `model.save(path)`; compiled, with its optimizer state, when
    it was saved compiled and `compile` is True, so `fit` continues where it stopped.

    Also reads models saved by Keras itself: a Keras 3 `.keras` archive or a Keras 2/3 `.h5`
    file, when every layer is one lstmkit has (see `lstmkit.models.keras_files`); compiled with
    the file's optimizer (afresh), loss and metrics when lstmkit has them.

    Args:
        path: The file.
        custom_objects: Functions (and layer classes) the model uses by name: custom
            activations, losses, metrics, a Lambda layer's function (a `lambda` by the layer's name).
        compile: Restore the optimizer, loss and metrics.

    Raises:
        ValueError: For a file that is not a whole lstmkit model, naming the file and the problem.
    """
    path = os.fspath(path)
    if keras_files.file_kind(path) is not None:
        return keras_files.load(path, custom_objects, compile)
    tensors, header = read_file(path, _fits_the_architecture(path, custom_objects))
    if header["format"] == WEIGHTS_FORMAT:
        raise ValueError(
            f"{path!r} holds weights only (written by save_weights): build the model, then call "
            "model.load_weights(path)"
        )
    model = architecture(header, path, custom_objects)
    load_weights_into(model, tensors, path)
    if compile and "compile_config" in header:
        restore_compile(model, header, tensors, path, custom_objects)
    return model


def load_extras(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The `extras` dict saved with the model in `path` (empty when none was)."""
    _, header = read_file(path)
    extras = header.get("extras", {})
    if not isinstance(extras, dict):
        raise refuse(os.fspath(path), f"{JSON_MEMBER}['extras'] should be a dict, got {type(extras).__name__}")
    return dict(extras)


def model_from_json(json_string: str, custom_objects: Mapping[str, Any] | None = None) -> Model:
    """The model (new weights) an architecture in JSON describes: written by `model.to_json()` of
    lstmkit, or of Keras 2/3 (translated as `load_model` translates Keras files). Keras 2 programs
    save `to_json()` beside `save_weights("w.h5")`, then `model_from_json` and `load_weights`.

    Raises:
        ValueError: For text that is not such a JSON architecture, naming what is wrong.
    """
    if not isinstance(json_string, (str, bytes)) or len(json_string) > keras_files.MAX_CONFIG_BYTES:
        raise ValueError(f"model_from_json takes the JSON text of a model's architecture, got {type(json_string).__name__}")
    try:
        spec = json.loads(json_string)
    except (json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"model_from_json: the text is not valid JSON ({err})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), (dict, list)):
        raise ValueError("model_from_json: expected {'class_name': ..., 'config': ...}, the form to_json() writes")
    if spec.get("format") == "lstmkit":
        model = deserialize({"class_name": spec.get("class_name"),
                             "config": serialization.from_json(spec["config"], custom_objects)}, custom_objects)
    else:
        model = keras_files.build(keras_files.layer_spec(spec, dict(custom_objects or {})), dict(custom_objects or {}),
                                  "model_from_json")
    if not isinstance(model, Model):
        raise ValueError(f"model_from_json: the JSON describes a {spec.get('class_name')}, not a model")
    return model
