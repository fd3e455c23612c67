"""Keras's import path for losses: `from lstmkit.losses import sparse_categorical_crossentropy`."""

from .training.losses import binary_crossentropy as binary_crossentropy
from .training.losses import categorical_crossentropy as categorical_crossentropy
from .training.losses import get as get
from .training.losses import huber as huber
from .training.losses import mae as mae
from .training.losses import mean_absolute_error as mean_absolute_error
from .training.losses import mean_squared_error as mean_squared_error
from .training.losses import mse as mse
from .training.losses import sparse_categorical_crossentropy as sparse_categorical_crossentropy

__all__ = [
    "sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
    "mean_squared_error", "mse", "mean_absolute_error", "mae", "huber", "get",
]
