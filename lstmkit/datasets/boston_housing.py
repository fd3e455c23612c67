"""The Boston housing prices data set (506 districts, 13 features, median value in $1000s), as
Keras's `keras.datasets.boston_housing` gives it, read from Keras's `boston_housing.npz` in its
cache; not shipped and never downloaded. Source: D. Harrison and D. L. Rubinfeld (1978), via
StatLib and Keras.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._npz import load_npz
from .cache import get_file

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/boston_housing.npz"


def load_data(path: str = "boston_housing.npz", test_split: float = 0.2, seed: int = 113
              ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """`(x_train, y_train), (x_test, y_test)`: the districts shuffled with
    `np.random.RandomState(seed)`, the last `test_split` of them held out, as Keras does."""
    if isinstance(test_split, bool) or not isinstance(test_split, numbers.Real) or not 0 <= test_split < 1:
        raise ValueError(f"test_split must be in [0, 1), got test_split={test_split!r}")
    file = get_file(path, origin=ORIGIN, file_hash="f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5")
    arrays = load_npz(file)
    if "x" not in arrays or "y" not in arrays:
        raise ValueError(f"{file} lacks the arrays x and y (it has {sorted(arrays)}): not Keras's boston_housing.npz")
    x, y = arrays["x"], arrays["y"]
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    n = int(len(x) * (1 - test_split))
    return (np.array(x[:n]), np.array(y[:n])), (np.array(x[n:]), np.array(y[n:]))
