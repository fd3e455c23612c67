"""Fashion-MNIST (Zalando's 28x28 grey images of clothes, 10 classes), as Keras's
`keras.datasets.fashion_mnist` gives it, read from Keras's own four `.gz` files in its cache
(`~/.keras/datasets/fashion-mnist/`); not shipped and never downloaded (the error says where to
put each file). Source: H. Xiao, K. Rasul, R. Vollgraf, arXiv:1708.07747 (MIT licence).
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from ._files import read_at_most
from .cache import get_file

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz")


MAX_IDX_BYTES = 64 << 20  # the largest file, the training images, is 47 MB once inflated


def _idx(path: str, offset: int) -> np.ndarray:
    """The bytes after an IDX file's header (8 bytes for labels, 16 for images), inflated from
    gzip in blocks and refused past MAX_IDX_BYTES (a gzip bomb) or when damaged."""
    try:
        with gzip.open(path, "rb") as f:
            data = read_at_most(f, MAX_IDX_BYTES)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path} is not a whole gzip file ({type(err).__name__}: {err})") from None
    if data is None:
        raise ValueError(f"{path} inflates past {MAX_IDX_BYTES:,} bytes; Keras's Fashion-MNIST files are at most 47 MB")
    if len(data) < offset:
        raise ValueError(f"{path} is too short to be an IDX file of Keras's Fashion-MNIST")
    return np.frombuffer(data, np.uint8, offset=offset)


def load_data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """`(x_train, y_train), (x_test, y_test)`: uint8 images (60000, 28, 28) and (10000, 28, 28),
    uint8 labels 0-9, as Keras returns them."""
    paths = [get_file(name, origin=ORIGIN + name, cache_subdir=os.path.join("datasets", "fashion-mnist")) for name in FILES]
    y_train, y_test = _idx(paths[0], 8), _idx(paths[2], 8)
    x_train, x_test = _idx(paths[1], 16), _idx(paths[3], 16)
    for images, labels, name in ((x_train, y_train, FILES[1]), (x_test, y_test, FILES[3])):
        if images.size != len(labels) * 28 * 28:
            raise ValueError(f"{name} holds {images.size} pixels, not 28x28 for each of its {len(labels)} labels")
    return (x_train.reshape(len(y_train), 28, 28), y_train), (x_test.reshape(len(y_test), 28, 28), y_test)
