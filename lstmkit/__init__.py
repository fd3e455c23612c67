"""lstmkit: LSTM networks written the Keras way, running on PyTorch, with cells of its own.

The subpackages load when first used (`lstmkit.layers`, `lstmkit.models`, ...), so that, say,
`import lstmkit.training` loads training and what it needs, not the models above it.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__ as __version__

_SUBMODULES = (
    "activations", "backend", "callbacks", "cells", "compat", "config", "constraints", "data", "datasets", "distributed",
    "initializers", "layers", "losses", "metrics", "models", "ops", "optimizers", "preprocessing", "regularizers", "saving",
    "training", "utils",
)
# Keras's `backend` and `ops` are part of the compatibility shell (lstmkit.compat), named here as Keras names them
_PLACED = {"backend": "compat.backend", "ops": "compat.ops"}
# top-level names Keras has (`keras.Sequential`, ...), and the import hook that makes `keras` lstmkit
_NAMES = {"Input": "layers", "Layer": "layers", "Model": "models", "Sequential": "models",
          "install_keras_alias": "compat.keras_alias"}

__all__ = [*_SUBMODULES, *_NAMES, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{_PLACED.get(name, name)}", __name__)
    if name in _NAMES:
        return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module 'lstmkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
