"""Callbacks: code that `fit`, `evaluate` and `predict` call at fixed points, with Keras's hook names.

A callback sees the model as `self.model` and the run's settings as `self.params`
(`epochs`, `steps`, `verbose`). The `logs` passed to the hooks hold the running figures
(`loss`, metrics) after a batch and the epoch's figures (with `val_` ones) after an epoch.
Setting `model.stop_training = True` ends `fit` after the current batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import csv
import io
import math
import os
import sys
import warnings
from typing import IO, Any, Callable, Iterable, Mapping

import numpy as np

from .. import distributed
from .._io import atomic_write
from .._checks import non_negative, non_negative_int, one_of, positive_int
from . import metrics as metrics_module
from .progress import Progbar

Logs = dict[str, float]


if TYPE_CHECKING:
    from .trainer import Trainer


def _say(text: str) -> None:
    """A callback's message, printed once per run (by rank 0 when training data-parallel)."""
    if distributed.is_main_process():
        print(text)


class Callback:
    """Base class; override any of the hooks. `on_batch_begin`/`on_batch_end` are Keras 2's names
    for the training-batch hooks and are called by them."""

    def __init__(self) -> None:
        self.model: Trainer = None  # type: ignore[assignment]  # set_model gives it, before any use
        self.params: dict[str, Any] = {}

    def set_model(self, model: Trainer) -> None:
        """Gives the callback the model it serves (`self.model`), before the run's first hook."""
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        """Gives the callback the run's settings (`self.params`: epochs, steps, verbose)."""
        self.params = params

    def get_state(self) -> dict[str, Any]:
        """What this callback has learned during `fit` (JSON values and numpy arrays), saved in
        checkpoints so a resumed run goes on as if never stopped. Stateless callbacks keep {}."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Puts back what `get_state` returned; called after `on_train_begin` when resuming."""

    def reads_batch_logs(self, stage: str) -> bool:
        """Whether this callback looks at the logs after each batch of `stage` ("train" or
        "test"): by default, whether it has such a hook of its own. The figures are then read
        for it after every batch, which makes a GPU finish each batch before the next starts;
        lstmkit's own callbacks answer False where they read them only now and then."""
        hooks = ("on_train_batch_end", "on_batch_end") if stage == "train" else ("on_test_batch_end",)
        return any(getattr(type(self), h) is not getattr(Callback, h) or h in vars(self) for h in hooks)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Called once when `fit` starts."""
    def on_train_end(self, logs: Logs | None = None) -> None:
        """Called once when `fit` ends (also after an early stop)."""
    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        """Called at the start of each epoch (numbered from 0)."""
    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        """Called at the end of each epoch with its logs (losses and metrics, validation ones included)."""
    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Keras 2's name for `on_train_batch_begin` (called by it)."""
    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Keras 2's name for `on_train_batch_end` (called by it)."""

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Called before each training batch."""
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Called after each training batch with the running logs."""
        self.on_batch_end(batch, logs)

    def on_test_begin(self, logs: Logs | None = None) -> None:
        """Called when `evaluate` (or `fit`'s validation pass) starts."""
    def on_test_end(self, logs: Logs | None = None) -> None:
        """Called when `evaluate` (or `fit`'s validation pass) ends, with its figures."""
    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Called before each batch of `evaluate`."""
    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Called after each batch of `evaluate` with the running logs."""
    def on_predict_begin(self, logs: Logs | None = None) -> None:
        """Keras's hook for `predict`; lstmkit's `predict` takes no callbacks and never calls it."""
    def on_predict_end(self, logs: Logs | None = None) -> None:
        """Keras's hook for `predict`; lstmkit's `predict` takes no callbacks and never calls it."""
    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Keras's hook for `predict`; lstmkit's `predict` takes no callbacks and never calls it."""
    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Keras's hook for `predict`; lstmkit's `predict` takes no callbacks and never calls it."""


def callback_items(callbacks: Any) -> list[Callback]:
    """`fit`'s `callbacks` argument as a list: None, one callback, or an iterable of them (as
    Keras takes it); a TypeError naming the item that is not a `Callback`."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    if isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Iterable):
        raise TypeError(f"Expected callbacks to be a list of lstmkit.callbacks.Callback objects, got callbacks={callbacks!r}")
    items = list(callbacks)
    for index, item in enumerate(items):
        if not isinstance(item, Callback):
            raise TypeError(f"Expected callbacks to hold lstmkit.callbacks.Callback objects (subclass Callback for your "
                            f"own), got callbacks[{index}]={item!r}")
    return items


class CallbackList:
    """Calls a hook on every callback in order: `callbacks.on_epoch_end(epoch, logs)`."""

    def __init__(self, callbacks: Iterable[Callback], model: Trainer, params: dict[str, Any]) -> None:
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(
                    f"Expected lstmkit callbacks (subclasses of lstmkit.callbacks.Callback), got {callback!r}"
                )
            callback.set_model(model)
            callback.set_params(params)

    def reads_batch_logs(self, stage: str) -> bool:
        """Whether some callback looks at the logs after every batch of `stage` (see `Callback`)."""
        return any(callback.reads_batch_logs(stage) for callback in self.callbacks)

    def __getattr__(self, hook: str) -> Callable[..., None]:
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        # Keras passes logs to every hook (a dict, empty where there is nothing to report), so a
        # LambdaCallback(on_epoch_begin=lambda epoch, logs: ...) from a Keras program runs as written
        takes_index = not hook.endswith(("train_begin", "train_end", "test_begin", "test_end", "predict_begin",
                                         "predict_end"))

        def call_all(*args: Any) -> None:
            if len(args) == int(takes_index):
                args = (*args, {})
            for callback in self.callbacks:
                getattr(callback, hook)(*args)

        return call_all


class Figures(dict):  # type: ignore[type-arg]
    """`History.history`: a dict of lists by figure name that also answers to accuracy's other
    Keras name: `acc` for `accuracy` and the reverse (`val_acc`, `<output>_acc` likewise), as
    Keras 2.2 and 2.3+ programs read them."""

    def __missing__(self, key: Any) -> list[float]:
        if isinstance(key, str):
            for short, long in (("acc", "accuracy"), ("accuracy", "acc")):
                if key == short or key.endswith("_" + short):
                    other = key[: len(key) - len(short)] + long
                    if dict.__contains__(self, other):
                        return dict.__getitem__(self, other)  # type: ignore[no-any-return]
        raise KeyError(key)


class History(Callback):
    """Records the epoch figures: `history.history["val_loss"]` is the list over epochs."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = Figures()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def get_state(self) -> dict[str, Any]:
        return {"epoch": list(self.epoch), "history": {k: list(v) for k, v in self.history.items()}}

    def set_state(self, state: dict[str, Any]) -> None:
        self.epoch = [int(e) for e in state["epoch"]]
        self.history = Figures({str(k): [float(x) for x in v] for k, v in state["history"].items()})


class ProgbarLogger(Callback):
    """The progress display: `verbose=1` a bar per epoch, `verbose=2` one line per epoch.

    `evaluate` gets a bar of its own; the validation pass inside `fit` adds its figures to the
    epoch's line instead (`params["in_fit"]`).
    """

    def __init__(self, verbose: int = 1, stream: IO[str] | None = None) -> None:
        super().__init__()
        self.verbose = verbose
        self.stream = stream
        self.bar: Progbar | None = None
        self.seen = 0

    def _start(self) -> None:
        self.seen = 0
        self.bar = Progbar(
            self.params.get("steps"),
            stream=self.stream,
            interactive=None if self.verbose == 1 else False,
            plain_interval=30.0 if self.verbose == 1 else math.inf,
        )

    def reads_batch_logs(self, stage: str) -> bool:
        return False  # the bar looks at the figures only when it draws

    def _step(self, batch: int, logs: Mapping[str, float] | None) -> None:
        assert self.bar is not None
        self.seen = batch + 1
        self.bar.update(self.seen, logs, finalize=False)

    def _finish(self, logs: Logs | None) -> None:
        assert self.bar is not None
        self.bar.update(self.seen, logs, finalize=True)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        print(f"Epoch {epoch + 1}/{self.params['epochs']}", file=self.stream or sys.stdout, flush=True)
        self._start()

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._step(batch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self._finish(logs)

    def on_test_begin(self, logs: Logs | None = None) -> None:
        if not self.params.get("in_fit"):
            self._start()

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if not self.params.get("in_fit"):
            self._step(batch, logs)

    def on_test_end(self, logs: Logs | None = None) -> None:
        if not self.params.get("in_fit"):
            self._finish(logs)


class MonitorCallback(Callback):
    """Base of the callbacks that watch one logged figure for improvement."""

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"Expected the name of a logged figure for monitor, got monitor={monitor!r}")
        self.monitor = monitor
        self.mode = one_of("mode", mode, ("auto", "min", "max"))
        self.min_delta = abs(non_negative("min_delta", min_delta))
        self.best: float | None = None

    def maximize(self) -> bool:
        if self.mode != "auto":
            return self.mode == "max"
        name = self.monitor.removeprefix("val_")
        if name in metrics_module.MAXIMIZED:
            return True
        if "loss" in name or name in metrics_module.names():
            return False
        raise ValueError(
            f"{type(self).__name__} cannot tell whether monitor={self.monitor!r} should grow or shrink; "
            "pass mode='max' or mode='min'"
        )

    def is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self.maximize():
            return value - self.min_delta > reference
        return value + self.min_delta < reference

    def current(self, logs: Logs | None) -> float | None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(
                f"{type(self).__name__} watches {self.monitor!r}, which is not in the logs "
                f"(available: {', '.join(sorted(logs or {})) or 'none'})",
                stacklevel=3,
            )
        return value


class EarlyStopping(MonitorCallback):
    """Stops training when `monitor` has not improved by `min_delta` for `patience` epochs.

    Args:
        monitor: The logged figure to watch (default "val_loss").
        min_delta: The smallest change that counts as an improvement.
        patience: Epochs without improvement before stopping.
        verbose: 1 prints a line when stopping and when restoring.
        mode: "min", "max", or "auto" (from the figure's name).
        baseline: Training stops unless the figure beats this within `patience` epochs.
        restore_best_weights: At the end, put back the weights of the best epoch.
        start_from_epoch: Epochs to wait before watching.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        self.patience = non_negative_int("patience", patience)
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = non_negative_int("start_from_epoch", start_from_epoch)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights: list[np.ndarray] | None = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        value = self.current(logs)
        if value is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self.is_improvement(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self.is_improvement(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def get_state(self) -> dict[str, Any]:
        return {"wait": self.wait, "stopped_epoch": self.stopped_epoch, "best": self.best,
                "best_epoch": self.best_epoch, "best_weights": self.best_weights}

    def set_state(self, state: dict[str, Any]) -> None:
        self.wait, self.stopped_epoch = int(state["wait"]), int(state["stopped_epoch"])
        self.best, self.best_epoch = state["best"], int(state["best_epoch"])
        self.best_weights = None if state["best_weights"] is None else [np.asarray(w) for w in state["best_weights"]]

    def on_train_end(self, logs: Logs | None = None) -> None:
        """Restores the best weights when asked to, and reports the stop."""
        if self.stopped_epoch > 0 and self.verbose > 0:
            _say(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _say(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(MonitorCallback):
    """Saves the model (or its weights) after every epoch, or every `save_freq` batches.

    `filepath` may hold `{epoch}` and logged names as format fields: "ckpt-{epoch:02d}-{val_loss:.3f}".
    Files are written whole or not at all (a crash mid-write leaves the previous file intact).

    Args:
        filepath: Where to write.
        monitor, mode: The figure that decides what is "best" (with `save_best_only`).
        verbose: 1 prints a line per save.
        save_best_only: Write only when `monitor` improves.
        save_weights_only: Write `save_weights` files instead of whole models.
        save_freq: "epoch", or a number of batches.
        initial_value_threshold: A value of `monitor` that a save must beat.
    """

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__(monitor, mode, 0.0)
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        if save_freq != "epoch":
            save_freq = positive_int("save_freq", save_freq)
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self._batches = 0
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch = epoch

    def get_state(self) -> dict[str, Any]:
        return {"best": self.best, "batches": self._batches}

    def set_state(self, state: dict[str, Any]) -> None:
        self.best, self._batches = state["best"], int(state["batches"])

    def reads_batch_logs(self, stage: str) -> bool:
        return stage == "train" and self.save_freq != "epoch"

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._batches += 1
        if self.save_freq != "epoch" and self._batches % int(self.save_freq) == 0:
            self._save(self._epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, logs)

    def _save(self, epoch: int, logs: Logs | None) -> None:
        logs = logs or {}
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as err:
            raise ValueError(
                f"ModelCheckpoint filepath {self.filepath!r} names {err.args[0]!r}, which is not in the logs "
                f"(available: epoch, {', '.join(sorted(logs))})"
            ) from None
        if self.save_best_only:
            value = self.current(logs)
            if value is None or not self.is_improvement(value, self.best):
                if self.verbose > 0 and value is not None:
                    _say(f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best}")
                return
            if self.verbose > 0:
                _say(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best} to {value}, saving to {path}")
            self.best = value
        elif self.verbose > 0:
            _say(f"Epoch {epoch + 1}: saving model to {path}")
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class ReduceLROnPlateau(MonitorCallback):
    """Multiplies the learning rate by `factor` when `monitor` stalls for `patience` epochs.

    Args:
        monitor: The figure to watch (default "val_loss").
        factor: Below 1: new_lr = lr · factor.
        patience: Epochs without improvement before reducing.
        verbose: 1 prints each reduction.
        mode: "min", "max" or "auto".
        min_delta: The smallest change that counts as an improvement.
        cooldown: Epochs to wait after a reduction before counting again.
        min_lr: The learning rate never goes below this.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        if not 0 <= factor < 1:
            raise ValueError(f"ReduceLROnPlateau needs 0 <= factor < 1, got factor={factor!r}")
        self.factor = float(factor)
        self.patience = non_negative_int("patience", patience)
        self.verbose = verbose
        self.cooldown = non_negative_int("cooldown", cooldown)
        self.min_lr = non_negative("min_lr", min_lr)
        self.wait = 0
        self.cooldown_counter = 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait, self.cooldown_counter, self.best = 0, 0, None

    def get_state(self) -> dict[str, Any]:
        return {"wait": self.wait, "cooldown_counter": self.cooldown_counter, "best": self.best}

    def set_state(self, state: dict[str, Any]) -> None:
        self.wait, self.cooldown_counter, self.best = int(state["wait"]), int(state["cooldown_counter"]), state["best"]

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        optimizer = _optimizer_of(self.model, type(self).__name__)
        if logs is not None:
            logs["learning_rate"] = optimizer.learning_rate
        value = self.current(logs)
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.is_improvement(value, self.best):
            self.best, self.wait = value, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = optimizer.base_learning_rate
                if old > self.min_lr:
                    optimizer.learning_rate = max(old * self.factor, self.min_lr)
                    if self.verbose > 0:
                        _say(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {optimizer.base_learning_rate}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


def _optimizer_of(model: Trainer, callback: str) -> Any:
    """The optimizer of a compiled model, for a callback that changes its learning rate."""
    if model.optimizer is None:
        raise ValueError(f"{callback} needs a compiled model: call model.compile(optimizer=...) first")
    return model.optimizer


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of each epoch to `schedule(epoch, lr)` (or `schedule(epoch)`)."""

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise ValueError(f"Expected a function (epoch, lr) -> lr for schedule, got schedule={schedule!r}")
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        optimizer = _optimizer_of(self.model, type(self).__name__)
        try:
            lr = self.schedule(epoch, optimizer.base_learning_rate)
        except TypeError:  # a schedule of the epoch alone, as Keras 1 wrote them
            lr = self.schedule(epoch)
        if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating)):
            raise ValueError(f"The schedule must return a number, got {lr!r} for epoch {epoch}")
        optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            _say(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.")

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = _optimizer_of(self.model, type(self).__name__).learning_rate


class CSVLogger(Callback):
    """Writes each epoch's figures as a CSV row: `epoch` then the logged names in sorted order.

    The whole file is rewritten atomically after each epoch (it is small), so a crash never
    leaves half a row, and a resumed run's file holds each epoch once.

    Args:
        filename: The CSV file.
        separator: The field separator.
        append: Add to an existing file instead of replacing it (the header is not repeated).
    """

    def __init__(self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = bool(append)
        self._text = ""
        self._keys: list[str] | None = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._text = ""
        if self.append and os.path.exists(self.filename):
            with open(self.filename, newline="") as f:
                self._text = f.read()
        self._keys = None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        row = io.StringIO()
        if self._keys is None:
            self._keys = sorted(logs)
            if not self._text:
                csv.writer(row, delimiter=self.separator).writerow(["epoch", *self._keys])
        csv.writer(row, delimiter=self.separator).writerow([epoch, *(logs.get(k, "NA") for k in self._keys)])
        self._text += row.getvalue()
        atomic_write(self.filename, self._text.encode())

    def get_state(self) -> dict[str, Any]:
        return {"text": self._text, "keys": self._keys}

    def set_state(self, state: dict[str, Any]) -> None:
        self._text, self._keys = str(state["text"]), state["keys"]
        if self._text or os.path.exists(self.filename):
            atomic_write(self.filename, self._text.encode())


class TerminateOnNaN(Callback):
    """Stops training as soon as a batch's loss is NaN or infinite, saying where."""

    def __init__(self) -> None:
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch = epoch

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            _say(f"Epoch {self._epoch + 1}, batch {batch + 1}: invalid loss ({loss}), terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from plain functions: `LambdaCallback(on_epoch_end=lambda epoch, logs: ...)`."""

    def __init__(self, **hooks: Callable[..., None]) -> None:
        super().__init__()
        for name, fn in hooks.items():
            if not name.startswith("on_") or not hasattr(Callback, name):
                raise ValueError(f"LambdaCallback got {name}=..., which is not a callback hook")
            setattr(self, name, fn)


class TensorBoard(Callback):
    """Keras's `TensorBoard(log_dir="logs")`: each epoch's figures as TensorBoard scalars
    (`train/loss`, `validation/loss`, ...), written with `torch.utils.tensorboard` when the
    `tensorboard` package is installed; without it, one warning and nothing written, so the
    program still runs. Histograms, graphs and profiling (Keras's other options) are accepted
    and not written."""

    def __init__(self, log_dir: str | os.PathLike[str] = "logs", histogram_freq: int = 0, write_graph: bool = True,
                 write_images: bool = False, update_freq: Any = "epoch", **ignored: Any) -> None:
        super().__init__()
        self.log_dir = os.fspath(log_dir)
        self._writer: Any = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if not distributed.is_main_process():
            return
        try:
            from torch.utils.tensorboard import SummaryWriter  # needs the optional tensorboard package
        except ImportError:
            warnings.warn("TensorBoard callback: the tensorboard package is not installed, so nothing is written "
                          f"to {self.log_dir!r} (pip install tensorboard)", RuntimeWarning, stacklevel=2)
            return
        self._writer = SummaryWriter(self.log_dir)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self._writer is None:
            return
        for key, value in (logs or {}).items():
            tag = f"validation/{key[4:]}" if key.startswith("val_") else f"train/{key}"
            self._writer.add_scalar(tag, value, epoch)
        self._writer.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
