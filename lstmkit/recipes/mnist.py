"""The seed tutorial's MNIST classifier: each image is a sequence of 28 rows of 28 pixels.

Two stacked 128-unit LSTMs (cuDNN weight layout, as the tutorial's `CuDNNLSTM`), dropout, a
64-unit ReLU layer and a 10-way softmax, trained with Adam(lr=0.001, decay=1e-6) on sparse
categorical cross-entropy and validated on the test set after every epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..callbacks import Callback
from ..datasets import mnist
from ..layers import CuDNNLSTM, Dense, Dropout
from ..models import Sequential
from ..optimizers import Adam


def build_model() -> Sequential:
    model = Sequential()
    model.add(CuDNNLSTM(128, input_shape=(28, 28), return_sequences=True))
    model.add(Dropout(0.2))
    model.add(CuDNNLSTM(128))
    model.add(Dense(64, activation="relu"))
    model.add(Dropout(0.2))
    model.add(Dense(10, activation="softmax"))
    model.compile(loss="sparse_categorical_crossentropy", optimizer=Adam(lr=0.001, decay=1e-6), metrics=["accuracy"])
    return model


class EpochTimer(Callback):
    """Wall-clock seconds of each epoch, validation included."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


@dataclass
class Result:
    test_loss: float
    test_accuracy: float
    epoch_seconds: list[float] = field(default_factory=list)
    history: dict[str, list[float]] = field(default_factory=dict)


def run(
    epochs: int = 3, batch_size: int = 32, limit: int | None = None, verbose: int | str = "auto",
    fit_options: dict[str, Any] | None = None, device: str | None = None,
) -> tuple[Sequential, Result]:
    """Loads MNIST (scaled to [0, 1]), trains the model and evaluates it on the test set.

    Args:
        epochs: Passes over the training images.
        batch_size: Images per step.
        limit: Use only the first `limit` training and test images (a quick check).
        verbose: The progress display, as in `fit`.
        fit_options: More keyword arguments for `fit`, e.g. {"checkpoint_dir": "ckpt", "resume": True}.
        device: Where the model trains ("cpu", "cuda", "cuda:1"); None: where Keras would put it
            (`lstmkit.config.current_device()`: the first GPU torch sees, else the CPU). The
            batches follow it.
    """
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    if limit is not None:
        x_train, y_train, x_test, y_test = x_train[:limit], y_train[:limit], x_test[:limit], y_test[:limit]
    x_train = x_train.astype(np.float32) / 255.0
    x_test = x_test.astype(np.float32) / 255.0
    model = build_model() if device is None else build_model().to(device)
    timer = EpochTimer()
    history = model.fit(
        x_train, y_train, epochs=epochs, batch_size=batch_size, validation_data=(x_test, y_test),
        callbacks=[timer], verbose=verbose, **(fit_options or {}),
    )
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=batch_size, verbose=verbose)
    return model, Result(test_loss, test_accuracy, timer.seconds, history.history)
