"""lstmkit: LSTM networks written the Keras way, running on PyTorch, with cells of its own."""

from . import activations, cells, constraints, initializers, layers, models, regularizers
from ._version import __version__ as __version__

__all__ = ["activations", "cells", "constraints", "initializers", "layers", "models", "regularizers", "__version__"]
