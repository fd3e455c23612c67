"""Layer classes by name, to rebuild a layer from `{"class_name": ..., "config": ...}`."""

from __future__ import annotations

from typing import Any

from .base import Layer


def _classes() -> dict[str, type[Layer]]:
    from .. import layers

    found = {name: getattr(layers, name) for name in layers.__all__}
    return {name: cls for name, cls in found.items() if isinstance(cls, type) and issubclass(cls, Layer)}


def serialize(layer: Layer) -> dict[str, Any]:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(spec: dict[str, Any]) -> Layer:
    classes = _classes()
    name = spec.get("class_name")
    if name not in classes:
        raise ValueError(f"Unknown layer type {name!r}; known types: {', '.join(sorted(classes))}")
    return classes[name].from_config(dict(spec.get("config", {})))
