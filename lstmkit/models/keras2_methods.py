"""Keras 2's model methods that Keras 3 removed: `predict_classes`, `predict_proba`,
`fit_generator`, `evaluate_generator`, `predict_generator`.

Each one works as it did in Keras 2 and warns once per call with the deprecation message Keras 2
gave (the `*_generator` methods hand their arguments to `fit` / `evaluate` / `predict`, which
take generators and `Sequence`s themselves).
"""

from __future__ import annotations

import warnings
from typing import Any, Iterable, Mapping

import numpy as np

_CLASSES_MESSAGE = (
    "`model.predict_classes()` is deprecated and will be removed after 2021-01-01. Please use instead:"
    "* `np.argmax(model.predict(x), axis=-1)`,   if your model does multi-class classification   (e.g. if it uses a "
    "`softmax` last-layer activation).* `(model.predict(x) > 0.5).astype(\"int32\")`,   if your model does binary "
    "classification   (e.g. if it uses a `sigmoid` last-layer activation)."
)
_PROBA_MESSAGE = (
    "`model.predict_proba()` is deprecated and will be removed after 2021-01-01. Please use `model.predict()` instead."
)


def _generator_message(method: str, replacement: str) -> str:
    return (f"`Model.{method}` is deprecated and will be removed in a future version. Please use `Model.{replacement}`, "
            "which supports generators.")


class Keras2Methods:
    """Mixed into `Model` (and so `Sequential`); relies on its `predict`, `fit` and `evaluate`."""

    predict: Any
    fit: Any
    evaluate: Any

    def predict_classes(self, x: Any, batch_size: int = 32, verbose: Any = 0) -> np.ndarray:
        """Keras 2: class ids, the argmax of the last axis (or `p > 0.5` as int32 for one output unit)."""
        warnings.warn(_CLASSES_MESSAGE, UserWarning, stacklevel=2)
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        if proba.shape[-1] > 1:
            return proba.argmax(axis=-1)
        return (proba > 0.5).astype("int32")

    def predict_proba(self, x: Any, batch_size: int = 32, verbose: Any = 0) -> np.ndarray:
        """Keras 2: the model's outputs, which it takes to be probabilities (`predict`)."""
        warnings.warn(_PROBA_MESSAGE, UserWarning, stacklevel=2)
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        if proba.min() < 0.0 or proba.max() > 1.0:
            warnings.warn("Network returning invalid probability values. The last layer might not normalize "
                          "predictions into probabilities (like softmax or sigmoid would).", UserWarning, stacklevel=2)
        return proba

    def fit_generator(
        self,
        generator: Any,
        steps_per_epoch: int | None = None,
        epochs: int = 1,
        verbose: Any = 1,
        callbacks: Iterable[Any] | None = None,
        validation_data: Any = None,
        validation_steps: int | None = None,
        validation_freq: int = 1,
        class_weight: Mapping[int, float] | None = None,
        max_queue_size: int = 10,
        workers: int = 1,
        use_multiprocessing: bool = False,
        shuffle: bool = True,
        initial_epoch: int = 0,
    ) -> Any:
        """Keras 2: `fit` on a generator of batches or a `Sequence` (`steps_per_epoch` batches per
        epoch; a Sequence's length by default). Batches are read in this process."""
        warnings.warn(_generator_message("fit_generator", "fit"), UserWarning, stacklevel=2)
        if validation_freq != 1:
            raise ValueError(f"fit_generator runs validation after every epoch; got validation_freq={validation_freq!r}")
        return self.fit(generator, steps_per_epoch=steps_per_epoch, epochs=epochs, verbose=verbose, callbacks=callbacks,
                        validation_data=validation_data, validation_steps=validation_steps, class_weight=class_weight,
                        shuffle=shuffle, initial_epoch=initial_epoch)

    def evaluate_generator(self, generator: Any, steps: int | None = None, callbacks: Iterable[Any] | None = None,
                           max_queue_size: int = 10, workers: int = 1, use_multiprocessing: bool = False,
                           verbose: Any = 0) -> Any:
        """Keras 2: `evaluate` on a generator of batches or a `Sequence`."""
        warnings.warn(_generator_message("evaluate_generator", "evaluate"), UserWarning, stacklevel=2)
        return self.evaluate(generator, steps=steps, callbacks=callbacks, verbose=verbose)

    def predict_generator(self, generator: Any, steps: int | None = None, callbacks: Iterable[Any] | None = None,
                          max_queue_size: int = 10, workers: int = 1, use_multiprocessing: bool = False,
                          verbose: Any = 0) -> Any:
        """Keras 2: `predict` on a generator or `Sequence` of batches (`x` or `(x, ...)` each)."""
        warnings.warn(_generator_message("predict_generator", "predict"), UserWarning, stacklevel=2)
        return self.predict(generator, steps=steps, verbose=verbose)
