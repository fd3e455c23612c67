"""Keras's import path for metrics: `from lstmkit.metrics import sparse_categorical_accuracy`."""

from .training.metrics import Mean as Mean
from .training.metrics import binary_accuracy as binary_accuracy
from .training.metrics import categorical_accuracy as categorical_accuracy
from .training.metrics import sparse_categorical_accuracy as sparse_categorical_accuracy

__all__ = ["sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy", "Mean"]
