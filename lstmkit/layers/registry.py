"""Layer classes by name, to rebuild a layer from `{"class_name": ..., "config": ...}`.

Every subclass of `Layer` defined in lstmkit (models included: a model is a layer) registers
itself here when its class is created. A file names classes; only these are built from it. A
user's own layer class is found only through `custom_objects`, never imported by name.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from .base import Layer

_CLASSES: dict[str, type] = {}
# the custom_objects of the outermost deserialize under way, seen by the nested ones (the layers
# of a model, the layer inside a wrapper), which their classes' from_config make without them
_CUSTOM: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar("lstmkit_custom_objects", default={})


def register(cls: type) -> None:
    """Called for each new `Layer` subclass; keeps lstmkit's own public ones."""
    if cls.__module__.startswith("lstmkit.") and not cls.__name__.startswith("_"):
        _CLASSES[cls.__name__] = cls


def lookup(name: str) -> type | None:
    """lstmkit's layer class of that name, if there is one."""
    return _CLASSES.get(name)


def serialize(layer: "Layer") -> dict[str, Any]:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(spec: dict[str, Any], custom_objects: Mapping[str, Any] | None = None) -> "Layer":
    """The layer `spec` describes; `custom_objects` may name a user's own layer classes."""
    if not isinstance(spec, dict):
        raise ValueError(f"Expected a layer description {{'class_name': ..., 'config': ...}}, got {spec!r:.100}")
    name = spec.get("class_name")
    custom_objects = {**_CUSTOM.get(), **(custom_objects or {})}
    cls = custom_objects.get(name) if isinstance(name, str) else None  # type: ignore[arg-type]
    if not isinstance(cls, type):
        cls = _CLASSES.get(name)  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(f"Unknown layer type {name!r}; known types: {', '.join(sorted(_CLASSES))} "
                         "(a layer class of your own: pass it in custom_objects)")
    config = spec.get("config", {})
    if not isinstance(config, dict):
        raise ValueError(f"The configuration of a {name} layer must be a dict, got {type(config).__name__}")
    token = _CUSTOM.set(custom_objects)
    try:
        built: Layer = cls.from_config(dict(config))  # type: ignore[attr-defined]
    finally:
        _CUSTOM.reset(token)
    return built
