"""Helpers with Keras's names (`keras.utils`): `set_random_seed`, `to_categorical`, `get_file`
(offline: Keras's cache only), `Sequence` / `PyDataset`, `pad_sequences`, `timeseries_dataset_from_array`, `text_dataset_from_directory`, `plot_model`."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from . import _threads
from .data.directory import text_dataset_from_directory as text_dataset_from_directory
from .datasets.cache import get_file as get_file
from .plot import model_diagram
from .preprocessing.sequence import pad_sequences as pad_sequences
from .preprocessing.timeseries import timeseries_dataset_from_array as timeseries_dataset_from_array
from .training.keras_sequence import Sequence as Sequence

PyDataset = Sequence  # Keras 3's name for it


def plot_model(model: Any, to_file: str = "model.png", show_shapes: bool = False, show_layer_names: bool = True,
               **kwargs: Any) -> str:
    """Keras's `plot_model`: a diagram of the model's layers as a PNG at `to_file`, drawn with
    matplotlib (Keras needs pydot and graphviz); returns the path."""
    return model_diagram(model, to_file, show_shapes=show_shapes, show_layer_names=show_layer_names)


def set_random_seed(seed: int) -> None:
    """Seeds Python's, numpy's and torch's generators, so the same program gives the same numbers
    on CPU (weight initialisation, dropout, shuffling all draw from them). It also keeps torch's
    thread count fixed (the thread governor of `fit` stands aside), so that sums split over
    threads round the same way each run.

    >>> set_random_seed(1); a = torch.rand(2); set_random_seed(1); torch.equal(a, torch.rand(2))
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"Expected a non-negative integer for seed, got seed={seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))
    _threads.pin()


def to_categorical(y: Any, num_classes: int | None = None, dtype: str = "float32") -> np.ndarray:
    """One-hot encodes integer class ids: shape (..., num_classes).

    >>> to_categorical([0, 2], 3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    ids = np.asarray(y)
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        if not np.issubdtype(ids.dtype, np.floating) or not np.all(ids == np.round(ids)):
            raise ValueError(f"to_categorical needs integer class ids, got an array of dtype {ids.dtype}")
    ids = ids.astype(np.int64)
    if ids.ndim > 1 and ids.shape[-1] == 1:
        ids = ids[..., 0]
    if num_classes is None:
        num_classes = int(ids.max()) + 1 if ids.size else 0
    if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
        raise ValueError(
            f"to_categorical got class ids from {ids.min()} to {ids.max()}, outside 0..{num_classes - 1} "
            f"(num_classes={num_classes})"
        )
    return np.eye(num_classes, dtype=dtype)[ids]
