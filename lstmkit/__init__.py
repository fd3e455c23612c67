"""lstmkit: LSTM networks written the Keras way, running on PyTorch, with cells of its own.

The subpackages load when first used (`lstmkit.layers`, `lstmkit.models`, ...), so that, say,
`import lstmkit.training` loads training and what it needs, not the models above it.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__ as __version__

_SUBMODULES = (
    "activations", "backend", "callbacks", "cells", "constraints", "datasets", "distributed", "initializers", "layers",
    "losses", "metrics", "models", "ops", "optimizers", "preprocessing", "regularizers", "saving", "training", "utils",
)
# top-level names Keras has (`keras.Sequential`, ...), and the import hook that makes `keras` lstmkit
_NAMES = {"Input": "layers", "Layer": "layers", "Model": "models", "Sequential": "models",
          "install_keras_alias": "keras_alias"}

__all__ = [*_SUBMODULES, *_NAMES, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _NAMES:
        return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module 'lstmkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
