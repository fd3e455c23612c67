"""lstmkit: LSTM networks written the Keras way, running on PyTorch, with cells of its own."""

from . import (
    activations,
    callbacks,
    cells,
    constraints,
    datasets,
    distributed,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    regularizers,
    utils,
)
from ._version import __version__ as __version__

__all__ = [
    "activations", "callbacks", "cells", "constraints", "datasets", "distributed", "initializers", "layers", "losses",
    "metrics", "models", "optimizers", "regularizers", "utils", "__version__",
]
