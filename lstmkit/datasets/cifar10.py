"""CIFAR-10 (60,000 32x32 colour images, 10 classes), as Keras's `keras.datasets.cifar10` gives
it, read from the `cifar-10-python.tar.gz` archive in Keras's cache (extracted there as Keras 3
extracts it); not shipped and never downloaded. The batches inside are Python pickles, read by an
unpickler that rebuilds arrays, lists and dicts only. Source: A. Krizhevsky, "Learning Multiple
Layers of Features from Tiny Images" (2009).
"""

from __future__ import annotations

import os
import pickle

import numpy as np

from .. import config
from ._pickles import arrays_only_pickle
from .cache import get_file

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MAX_BATCH_BYTES = 1 << 28  # a batch of 10,000 images is 31 MB


def load_batch(path: str, label_key: str = "labels") -> tuple[np.ndarray, list[int]]:
    """One batch file's images (N, 3, 32, 32) and labels."""
    try:
        with open(path, "rb") as f:
            batch = arrays_only_pickle(f, encoding="bytes", limit=MAX_BATCH_BYTES)
    except pickle.UnpicklingError as err:
        raise ValueError(f"{path} is not a CIFAR batch file ({err})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path} is not a CIFAR batch file (it holds a {type(batch).__name__}, not a dict)")
    batch = {k.decode("utf8", "replace") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data, labels = batch.get("data"), batch.get(label_key)
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3 * 32 * 32):
        raise ValueError(f"{path} is not a CIFAR batch file (its 'data' is not a uint8 array of N rows of 3072 pixels)")
    if not (isinstance(labels, list) and len(labels) == len(data) and all(type(v) is int for v in labels)):
        raise ValueError(f"{path} is not a CIFAR batch file (its {label_key!r} is not a list of {len(data)} ints)")
    return data.reshape(data.shape[0], 3, 32, 32), labels


def load_data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """`(x_train, y_train), (x_test, y_test)`: uint8 images (50000, 32, 32, 3) and (10000, 32, 32, 3)
    (channels first when `config.image_data_format()` says so), labels (N, 1) uint8."""
    folder = os.path.join(get_file("cifar-10-batches-py-target", origin=ORIGIN, extract=True,
                                   file_hash="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),
                          "cifar-10-batches-py")
    parts = [load_batch(os.path.join(folder, f"data_batch_{i}")) for i in range(1, 6)]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([np.asarray(p[1], dtype=np.uint8) for p in parts]).reshape(-1, 1)
    x_test, test_labels = load_batch(os.path.join(folder, "test_batch"))
    y_test = np.asarray(test_labels, dtype=np.uint8).reshape(-1, 1)
    if config.image_data_format() == "channels_last":
        x_train, x_test = x_train.transpose(0, 2, 3, 1), x_test.transpose(0, 2, 3, 1)
    return (x_train, y_train), (x_test, y_test)
