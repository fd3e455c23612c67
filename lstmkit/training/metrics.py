"""Keras's metrics: per-sample functions, and the running weighted mean that fit and evaluate report.

A metric function maps `(y_true, y_pred)` to one value per sample (per time step for sequence
outputs); `RunningMean` accumulates Σ value · weight / Σ weight over the batches of an epoch, which is
what Keras shows in its progress bar and returns from `evaluate`.

`"accuracy"` (or `"acc"`) picks its variant from the shapes, with Keras's rule: a last output axis
of size 1 means binary accuracy; labels of lower rank than the predictions, or with a last axis
of size 1, mean sparse categorical accuracy; otherwise categorical accuracy.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator, Mapping, Sequence, Union

import torch

from . import losses
from .losses import arrays_in

MetricFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
MetricLike = Union[str, MetricFn]


def _labels(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Class ids shaped like y_pred without its last axis (a trailing axis of size 1 is dropped)."""
    labels = y_true
    if labels.dim() == y_pred.dim() and labels.shape[-1] == 1:
        labels = labels.squeeze(-1)
    return labels.long()


@arrays_in
def sparse_categorical_accuracy(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """1 where argmax(y_pred) equals the class id in y_true, else 0.

    >>> sparse_categorical_accuracy(torch.tensor([1, 0]), torch.tensor([[0.2, 0.8], [0.3, 0.7]])).tolist()
    [1.0, 0.0]
    """
    return (y_pred.argmax(dim=-1) == _labels(y_true, y_pred)).to(y_pred.dtype)


@arrays_in
def categorical_accuracy(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """1 where argmax(y_pred) equals argmax(y_true) (one-hot labels), else 0."""
    return (y_pred.argmax(dim=-1) == y_true.argmax(dim=-1)).to(y_pred.dtype)


@arrays_in
def top_k_categorical_accuracy(y_true: torch.Tensor, y_pred: torch.Tensor, k: int = 5) -> torch.Tensor:
    """1 where the class of the one-hot y_true is among the k highest scores of y_pred, else 0.

    >>> top_k_categorical_accuracy(torch.tensor([[0, 0, 1], [1, 0, 0]]), torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.5, 0.4]]), k=2).tolist()
    [0.0, 0.0]
    """
    return sparse_top_k_categorical_accuracy(y_true.argmax(dim=-1), y_pred, k)


@arrays_in
def sparse_top_k_categorical_accuracy(y_true: torch.Tensor, y_pred: torch.Tensor, k: int = 5) -> torch.Tensor:
    """1 where the class id y_true is among the k highest scores of y_pred, else 0 (ties at the
    k-th score count as in, as Keras's `in_top_k`).

    >>> sparse_top_k_categorical_accuracy(torch.tensor([2, 1]), torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.5, 0.4]]), k=2).tolist()
    [0.0, 1.0]
    """
    labels = _labels(y_true, y_pred)
    k = min(int(k), y_pred.shape[-1])
    kth = y_pred.topk(k, dim=-1).values[..., -1:]
    own = y_pred.gather(-1, labels.unsqueeze(-1))
    return (own >= kth).squeeze(-1).to(y_pred.dtype)


@arrays_in
def binary_accuracy(y_true: torch.Tensor, y_pred: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """The share of entries where (y_pred > threshold) equals y_true, averaged over the last axis.

    >>> binary_accuracy(torch.tensor([[1.0], [0.0]]), torch.tensor([[0.7], [0.6]])).tolist()
    [1.0, 0.0]
    """
    predicted = (y_pred > threshold).to(y_pred.dtype)
    return (predicted == y_true.to(y_pred.dtype)).to(y_pred.dtype).mean(dim=-1)


_REGISTRY: dict[str, MetricFn] = {
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "binary_accuracy": binary_accuracy,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
    "mae": losses.mean_absolute_error,
    "mean_absolute_error": losses.mean_absolute_error,
    "mse": losses.mean_squared_error,
    "mean_squared_error": losses.mean_squared_error,
    "sparse_categorical_crossentropy": losses.sparse_categorical_crossentropy,
    "categorical_crossentropy": losses.categorical_crossentropy,
    "binary_crossentropy": losses.binary_crossentropy,
}
for _fn in (losses.mean_absolute_percentage_error, losses.mean_squared_logarithmic_error, losses.log_cosh,
            losses.kl_divergence, losses.poisson, losses.hinge, losses.squared_hinge, losses.cosine_similarity):
    _REGISTRY[_fn.__name__] = _fn
_REGISTRY.update(mape=losses.mean_absolute_percentage_error, msle=losses.mean_squared_logarithmic_error,
                 logcosh=losses.log_cosh, kld=losses.kl_divergence)
_ACCURACY = ("accuracy", "acc")
# metrics that grow as the model improves; the rest are errors, which shrink
MAXIMIZED = {"accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy",
             "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy"}


def names() -> list[str]:
    return sorted([*_REGISTRY, *_ACCURACY])


def accuracy_for(y_true_shape: Sequence[int], y_pred_shape: Sequence[int]) -> MetricFn:
    """Keras's choice of accuracy for labels and predictions of these shapes (see the module doc)."""
    if y_pred_shape[-1] == 1:
        return binary_accuracy
    if len(y_true_shape) < len(y_pred_shape) or y_true_shape[-1] == 1:
        return sparse_categorical_accuracy
    return categorical_accuracy


def check(identifier: MetricLike) -> None:
    """Raises ValueError for a name that is not a metric (compile calls this before any data is seen)."""
    if isinstance(identifier, str):
        if identifier not in _REGISTRY and identifier not in _ACCURACY:
            raise ValueError(f"Unknown metric {identifier!r}; use one of {', '.join(names())} or a callable")
    elif not callable(identifier):
        raise ValueError(f"Expected a metric name or a callable, got metrics entry {identifier!r}")


def name_of(identifier: MetricLike) -> str:
    """The key a metric has in the logs: its name as given, a metric or loss object's `name`, or
    the function's name."""
    if isinstance(identifier, str):
        return identifier
    if isinstance(identifier, (Metric, losses.Loss)):
        return identifier.name
    return getattr(identifier, "__name__", type(identifier).__name__)


def get(identifier: MetricLike, y_true_shape: Sequence[int], y_pred_shape: Sequence[int]) -> MetricFn:
    """The metric function for a name or callable; "accuracy" resolved from the shapes."""
    check(identifier)
    if isinstance(identifier, str):
        return accuracy_for(y_true_shape, y_pred_shape) if identifier in _ACCURACY else _REGISTRY[identifier]
    if isinstance(identifier, (Metric, losses.Loss)):
        return identifier.per_sample
    return identifier


class Metric:
    """Keras's metric classes (`keras.metrics.RootMeanSquaredError()`, ...): in `compile`, the
    running mean of the per-sample `fn` (then `finalize` of it: the square root for
    RootMeanSquaredError); in a program's own loop, Keras's stateful object: `update_state(y_true,
    y_pred, sample_weight=None)` (or calling it, which also returns the result), `result()`,
    `reset_state()`.

    >>> m = SparseCategoricalAccuracy(); _ = m(torch.tensor([1, 0]), torch.tensor([[0.2, 0.8], [0.3, 0.7]])); float(m.result())
    0.5
    """

    fn: Callable[..., torch.Tensor] = staticmethod(losses.mean_squared_error)
    default_name = "mean_squared_error"
    finalize: Callable[[float], float] | None = None

    def __init__(self, name: str | None = None, dtype: object = None) -> None:
        self.name = name or self.default_name
        self._mean = RunningMean(self.finalize)

    def per_sample(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return type(self).fn(y_true, y_pred)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_pred = torch.as_tensor(y_pred).detach()
        y_true = torch.as_tensor(y_true, device=y_pred.device).detach()
        values = self.per_sample(y_true, y_pred.float() if not y_pred.is_floating_point() else y_pred)
        self._mean.update(values, None if sample_weight is None else torch.as_tensor(sample_weight).detach())

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def result(self) -> torch.Tensor:
        return torch.tensor(self._mean.result(), dtype=torch.float32)

    def reset_state(self) -> None:
        self._mean.reset()

    reset_states = reset_state

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class MeanSquaredError(Metric):
    fn, default_name = staticmethod(losses.mean_squared_error), "mean_squared_error"


class RootMeanSquaredError(Metric):
    fn, default_name = staticmethod(losses.mean_squared_error), "root_mean_squared_error"
    finalize = staticmethod(math.sqrt)


class MeanAbsoluteError(Metric):
    fn, default_name = staticmethod(losses.mean_absolute_error), "mean_absolute_error"


class MeanAbsolutePercentageError(Metric):
    fn, default_name = staticmethod(losses.mean_absolute_percentage_error), "mean_absolute_percentage_error"


class SparseCategoricalAccuracy(Metric):
    fn, default_name = staticmethod(sparse_categorical_accuracy), "sparse_categorical_accuracy"


class CategoricalAccuracy(Metric):
    fn, default_name = staticmethod(categorical_accuracy), "categorical_accuracy"


class BinaryAccuracy(Metric):
    default_name = "binary_accuracy"

    def __init__(self, name: str | None = None, dtype: object = None, threshold: float = 0.5) -> None:
        super().__init__(name, dtype)
        self.threshold = float(threshold)

    def per_sample(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return binary_accuracy(y_true, y_pred, self.threshold)


class TopKCategoricalAccuracy(Metric):
    default_name = "top_k_categorical_accuracy"

    def __init__(self, k: int = 5, name: str | None = None, dtype: object = None) -> None:
        super().__init__(name, dtype)
        self.k = int(k)

    def per_sample(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return top_k_categorical_accuracy(y_true, y_pred, self.k)


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    default_name = "sparse_top_k_categorical_accuracy"

    def per_sample(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return sparse_top_k_categorical_accuracy(y_true, y_pred, self.k)


class Mean(Metric):
    """Keras's `keras.metrics.Mean`: the running (weighted) mean of the values given to
    `update_state(values, sample_weight=None)` (or to the metric called on them).

    >>> m = Mean(name="loss"); _ = m(torch.tensor(2.0)); float(m(torch.tensor([4.0, 6.0])))
    4.0
    """

    default_name = "mean"

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        v = torch.as_tensor(values).detach().float()
        self._mean.update(v, None if sample_weight is None else torch.as_tensor(sample_weight).detach())

    def __call__(self, values: Any, sample_weight: Any = None) -> torch.Tensor:  # type: ignore[override]
        self.update_state(values, sample_weight)
        return self.result()


class Sum(Mean):
    """Keras's `keras.metrics.Sum`: the running total of the values given."""

    default_name = "sum"

    def result(self) -> torch.Tensor:
        return torch.tensor(self._mean.total, dtype=torch.float32)


class RunningMean:
    """A running weighted mean: Σ value · weight / Σ weight over everything given to `update`.

    >>> m = RunningMean(); m.update(torch.tensor([1.0, 0.0])); m.update(torch.tensor(4.0), weight=2.0); m.result()  # (1 + 0 + 2·4) / (1 + 1 + 2)
    2.25
    """

    def __init__(self, finalize: Callable[[float], float] | None = None) -> None:
        self.finalize = finalize  # applied to the mean by `result` (a root-mean-square's root)
        self.reset()

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def update(self, values: torch.Tensor, weight: torch.Tensor | float | None = None) -> None:
        self.add(self.sums(values, weight))

    @staticmethod
    def sums(values: torch.Tensor, weight: torch.Tensor | float | None = None) -> torch.Tensor:
        """What `update` adds, as a float64 tensor [Σ value · weight, Σ weight] (summed over ranks
        under data-parallel training before it is added)."""
        values = values.detach()
        # counts and plain-number weights are filled in on the device: a tensor made from a number
        # (new_tensor, as_tensor) is a copy from the host, which waits for a GPU. Each operator is
        # a launch there, so the two commonest cases take two: a batch's loss with its size as the
        # weight, and a metric's values counted as they are.
        if values.dim() == 0 and isinstance(weight, (int, float)):
            pair = values.new_full((2,), float(weight), dtype=torch.float64)  # [w, w]
            pair[0].mul_(values)  # [v·w, w], in float64
            return pair
        if weight is None:
            pair = values.new_full((2,), float(values.numel()), dtype=torch.float64)  # [n, n]
            torch.sum(values, dim=tuple(range(values.dim())), dtype=torch.float64, out=pair[0])  # [Σ v, n]
            return pair
        values = values.double()
        if isinstance(weight, torch.Tensor):
            w = weight.to(dtype=torch.float64, device=values.device)
        else:
            w = values.new_full((), float(weight))
        while w.dim() < values.dim():
            w = w.unsqueeze(-1)
        w = w.expand_as(values) if values.dim() else w
        return torch.stack([(values * w).sum(), w.sum()])

    def add(self, sums: torch.Tensor) -> None:
        total, count = sums.tolist()
        self.total += total
        self.count += count

    def result(self) -> float:
        mean = self.total / self.count if self.count else 0.0
        return self.finalize(mean) if self.finalize is not None else mean


class Tally(dict):  # type: ignore[type-arg]  # dict[str, RunningMean]
    """The running figures of one pass (`loss`, each metric), by name, fed a batch at a time.

    A batch's sums (`add`: a `(figures, 2)` tensor, a row of `RunningMean.sums` per figure) stay
    where the step computed them, on the model's device, until the figures are read (`logs`).
    Reading waits for the device, so `fit` reads only where something looks at them: a callback's
    per-batch hook, a redraw of the progress bar (`live`), the end of the epoch. In between, a GPU
    runs ahead of the host (Keras 3 gets there another way: unless a callback has a per-batch hook,
    it reads the figures after every batch on a thread of its own). The rows are added in batch
    order whenever they are read, so the figures are the same however often that is.
    """

    WAITING_AT_MOST = 1024  # rows kept on the device before they are read anyway

    def __init__(self, trackers: dict[str, RunningMean]) -> None:
        super().__init__(trackers)
        self._waiting: list[tuple[int, torch.Tensor]] = []  # (batch index, its sums)
        self.batches = 0  # the index the next batch gets (a resumed epoch starts past 0)
        self.nonfinite: tuple[int, float] | None = None  # the batch at which `loss` turned NaN/inf, and its value

    def add(self, sums: torch.Tensor) -> None:
        """Adds a batch's sums (computed from detached values)."""
        self._waiting.append((self.batches, sums))
        self.batches += 1
        if len(self._waiting) >= self.WAITING_AT_MOST:
            self.settle()

    def settle(self) -> None:
        """Adds the rows waiting on the device (one transfer for all of them)."""
        if not self._waiting:
            return
        batches = [b for b, _ in self._waiting]
        rows = torch.stack([s for _, s in self._waiting]).tolist()  # (batches, figures, 2)
        self._waiting.clear()
        trackers, loss = list(self.values()), self.get("loss")
        for batch, row in zip(batches, rows):
            for tracker, (total, count) in zip(trackers, row):
                tracker.total += total
                tracker.count += count
            if loss is not None and self.nonfinite is None and not math.isfinite(value := loss.result()):
                self.nonfinite = (batch, value)

    def logs(self) -> dict[str, float]:
        """The running figures by name, as plain numbers."""
        self.settle()
        return {name: tracker.result() for name, tracker in self.items()}

    def live(self) -> "LiveLogs":
        """The figures as a mapping that reads them only when a value is looked up."""
        return LiveLogs(self)


class LiveLogs(Mapping[str, float]):
    """A read-only view of a `Tally`'s figures: names without waiting, values read on demand."""

    def __init__(self, tally: Tally) -> None:
        self._tally = tally

    def __getitem__(self, name: str) -> float:
        tracker = self._tally[name]
        self._tally.settle()
        return tracker.result()

    def __iter__(self) -> Iterator[str]:
        return iter(self._tally)

    def __len__(self) -> int:
        return len(self._tally)

    def __repr__(self) -> str:
        return repr(self._tally.logs())
