"""Keras's losses, per sample, with Keras's values.

Each function returns one value per sample (and per time step for sequence outputs), averaged
over the last axis where Keras does; `reduce` turns them into the scalar that training uses
(Keras 3's "sum over batch size": the weighted sum divided by the number of values).

Cross-entropies on probabilities clip them to [ε, 1 − ε], ε = 1e-7, as Keras does. Given logits
instead, `clip=True` gives exactly those clipped values while staying stable: the log-probabilities
come from `log_softmax`/`logsigmoid` and are clamped to [log ε, log(1 − ε)], which is the same
as clipping the probabilities. A training loop whose model ends in a softmax or sigmoid uses this.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any, Callable, Union

import numpy as np
import torch
import torch.nn.functional as F

EPSILON = 1e-7
_LOG_LOW, _LOG_HIGH = math.log(EPSILON), math.log1p(-EPSILON)

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LossLike = Union[str, LossFn]


def _categorical_log_probs(y_pred: torch.Tensor, from_logits: bool, clip: bool) -> torch.Tensor:
    if from_logits:
        log_probs = torch.log_softmax(y_pred, dim=-1)
        return log_probs.clamp(_LOG_LOW, _LOG_HIGH) if clip else log_probs
    probs = y_pred / y_pred.sum(dim=-1, keepdim=True)
    return torch.log(probs.clamp(EPSILON, 1 - EPSILON) if clip else probs)


def arrays_in(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """Lets a loss or metric function be called on NumPy arrays or lists, as Keras's are
    (`keras.metrics.mean_absolute_error(y, forecast)`): they become float tensors first, and
    the targets go to the predictions' device."""
    @functools.wraps(fn)
    def wrapper(y_true: Any, y_pred: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        if not isinstance(y_pred, torch.Tensor):
            y_pred = torch.as_tensor(np.asarray(y_pred), dtype=torch.float32)
        if not isinstance(y_true, torch.Tensor):
            y_true = torch.as_tensor(np.asarray(y_true), device=y_pred.device)
        elif y_true.device != y_pred.device:  # a program's own loop: targets from the host, predictions on a GPU
            y_true = y_true.to(y_pred.device)
        return fn(y_true, y_pred, *args, **kwargs)
    return wrapper


@arrays_in
def sparse_categorical_crossentropy(
    y_true: torch.Tensor, y_pred: torch.Tensor, from_logits: bool = False, *, clip: bool | None = None
) -> torch.Tensor:
    """−log p[label]; y_true holds class ids shaped like y_pred without its last axis (or with a 1 there).

    >>> round(sparse_categorical_crossentropy(torch.tensor([1]), torch.tensor([[0.5, 0.5]])).item(), 6)  # log 2
    0.693147
    """
    clip = (not from_logits) if clip is None else clip
    labels = y_true.long()
    if labels.dim() == y_pred.dim() and labels.shape[-1] == 1:
        labels = labels.squeeze(-1)
    log_probs = _categorical_log_probs(y_pred, from_logits, clip)  # (..., C)
    return -log_probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1)


@arrays_in
def categorical_crossentropy(
    y_true: torch.Tensor, y_pred: torch.Tensor, from_logits: bool = False, *, clip: bool | None = None
) -> torch.Tensor:
    """−Σ y_true · log p over the last axis; y_true one-hot (or any distribution)."""
    clip = (not from_logits) if clip is None else clip
    return -(y_true.to(y_pred.dtype) * _categorical_log_probs(y_pred, from_logits, clip)).sum(dim=-1)


@arrays_in
def binary_crossentropy(
    y_true: torch.Tensor, y_pred: torch.Tensor, from_logits: bool = False, *, clip: bool | None = None
) -> torch.Tensor:
    """−[y log p + (1 − y) log(1 − p)], averaged over the last axis."""
    clip = (not from_logits) if clip is None else clip
    y = y_true.to(y_pred.dtype)
    if from_logits:
        log_p, log_not_p = F.logsigmoid(y_pred), F.logsigmoid(-y_pred)
        if clip:
            log_p, log_not_p = log_p.clamp(_LOG_LOW, _LOG_HIGH), log_not_p.clamp(_LOG_LOW, _LOG_HIGH)
    else:
        p = y_pred.clamp(EPSILON, 1 - EPSILON) if clip else y_pred
        # torch's binary_cross_entropy floors each log at -100; Keras's torch backend inherits that
        log_p, log_not_p = torch.log(p).clamp(min=-100.0), torch.log1p(-p).clamp(min=-100.0)
    return -(y * log_p + (1 - y) * log_not_p).mean(dim=-1)


@arrays_in
def mean_squared_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    return (y_pred - y_true.to(y_pred.dtype)).square().mean(dim=-1)


@arrays_in
def mean_absolute_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    return (y_pred - y_true.to(y_pred.dtype)).abs().mean(dim=-1)


@arrays_in
def huber(y_true: torch.Tensor, y_pred: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    """½x² for |x| ≤ δ, else δ(|x| − ½δ), with x = y_pred − y_true; averaged over the last axis."""
    error = (y_pred - y_true.to(y_pred.dtype)).abs()
    return torch.where(error <= delta, 0.5 * error.square(), delta * (error - 0.5 * delta)).mean(dim=-1)


@arrays_in
def mean_absolute_percentage_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """100 · |y_true − y_pred| / max(|y_true|, ε), averaged over the last axis."""
    y = y_true.to(y_pred.dtype)
    return 100.0 * ((y - y_pred).abs() / y.abs().clamp(min=EPSILON)).mean(dim=-1)


@arrays_in
def mean_squared_logarithmic_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """(log(1 + max(y_pred, ε)) − log(1 + max(y_true, ε)))², averaged over the last axis."""
    y = y_true.to(y_pred.dtype)
    return (torch.log1p(y_pred.clamp(min=EPSILON)) - torch.log1p(y.clamp(min=EPSILON))).square().mean(dim=-1)


@arrays_in
def log_cosh(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """log(cosh(x)) for x = y_pred − y_true, computed as x + softplus(−2x) − log 2; averaged over the last axis."""
    x = y_pred - y_true.to(y_pred.dtype)
    return (x + F.softplus(-2.0 * x) - math.log(2.0)).mean(dim=-1)


@arrays_in
def kl_divergence(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Σ y_true · log(y_true / y_pred) over the last axis, both clipped to [ε, 1]."""
    y, p = y_true.to(y_pred.dtype).clamp(EPSILON, 1.0), y_pred.clamp(EPSILON, 1.0)
    return (y * torch.log(y / p)).sum(dim=-1)


@arrays_in
def poisson(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """y_pred − y_true · log(y_pred + ε), averaged over the last axis."""
    return (y_pred - y_true.to(y_pred.dtype) * torch.log(y_pred + EPSILON)).mean(dim=-1)


def _signed(y_true: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Labels in {0, 1} as {-1, 1} (Keras's hinge losses take either)."""
    y = y_true.to(like.dtype)
    return 2.0 * y - 1.0 if bool(((y == 0) | (y == 1)).all()) else y


@arrays_in
def hinge(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """max(1 − y · y_pred, 0) with y in {−1, 1} (0/1 labels are mapped), averaged over the last axis."""
    return (1.0 - _signed(y_true, y_pred) * y_pred).clamp(min=0.0).mean(dim=-1)


@arrays_in
def squared_hinge(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    return (1.0 - _signed(y_true, y_pred) * y_pred).clamp(min=0.0).square().mean(dim=-1)


@arrays_in
def cosine_similarity(y_true: torch.Tensor, y_pred: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """−cos(y_true, y_pred) along `axis` (Keras's loss: lower is more alike)."""
    y = y_true.to(y_pred.dtype)
    return -(F.normalize(y, dim=axis, eps=1e-12) * F.normalize(y_pred, dim=axis, eps=1e-12)).sum(dim=axis)


mse, mae = mean_squared_error, mean_absolute_error
mape, msle, logcosh, kld = mean_absolute_percentage_error, mean_squared_logarithmic_error, log_cosh, kl_divergence

_REGISTRY: dict[str, LossFn] = {
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
    "mse": mean_squared_error,
    "mean_squared_error": mean_squared_error,
    "mae": mean_absolute_error,
    "mean_absolute_error": mean_absolute_error,
    "huber": huber,
    "huber_loss": huber,
    "mape": mean_absolute_percentage_error,
    "mean_absolute_percentage_error": mean_absolute_percentage_error,
    "msle": mean_squared_logarithmic_error,
    "mean_squared_logarithmic_error": mean_squared_logarithmic_error,
    "logcosh": log_cosh,
    "log_cosh": log_cosh,
    "kld": kl_divergence,
    "kl_divergence": kl_divergence,
    "kullback_leibler_divergence": kl_divergence,
    "poisson": poisson,
    "hinge": hinge,
    "squared_hinge": squared_hinge,
    "cosine_similarity": cosine_similarity,
}


class Loss:
    """Keras's loss classes (`SparseCategoricalCrossentropy(from_logits=True)`, ...): a loss
    function with its settings, called as `(y_true, y_pred) -> per-sample losses` like the
    functions. The constructor arguments are kept as attributes (a model file stores them)."""

    fn: Callable[..., torch.Tensor] = staticmethod(mean_squared_error)
    options: tuple[str, ...] = ()

    def __init__(self, reduction: str = "sum_over_batch_size", name: str | None = None, **options: Any) -> None:
        if reduction not in ("sum_over_batch_size", "auto"):
            raise ValueError(f"{type(self).__name__}: lstmkit reduces losses as Keras's default does (the mean over the "
                             f"batch); got reduction={reduction!r}")
        self.reduction, self.name = reduction, name or _snake(type(self).__name__)
        for key, value in options.items():
            setattr(self, key, value)

    def settings(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.options}

    def per_sample(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        """One loss per sample (per step for sequences): what `compile` averages."""
        return type(self).fn(y_true, y_pred, **self.settings())

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
        """Keras's call: the weighted losses summed and divided by their count (Keras's
        "sum_over_batch_size"), a scalar, as a program's own training loop uses it."""
        values = self.per_sample(y_true, y_pred)
        if sample_weight is None:
            return values.mean()
        weight = _weight_like(values, torch.as_tensor(sample_weight, device=values.device))
        return (values * weight).sum() / max(values.numel(), 1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.settings().items())})"


def _snake(name: str) -> str:
    """Keras's default names: `KLDivergence` -> `kl_divergence`, `MeanSquaredError` -> `mean_squared_error`."""
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)).lower()


def _smoothed(y: torch.Tensor, smoothing: float, classes: float) -> torch.Tensor:
    return y * (1.0 - smoothing) + smoothing / classes if smoothing else y


class SparseCategoricalCrossentropy(Loss):
    options = ("from_logits",)

    def __init__(self, from_logits: bool = False, ignore_class: int | None = None, **kwargs: Any) -> None:
        if ignore_class is not None:
            raise ValueError("SparseCategoricalCrossentropy(ignore_class=...) is not supported; weigh those "
                             "samples 0 with sample_weight instead")
        super().__init__(from_logits=bool(from_logits), **kwargs)

    def per_sample(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return sparse_categorical_crossentropy(y_true, y_pred, from_logits=self.from_logits)  # type: ignore[attr-defined]


class CategoricalCrossentropy(Loss):
    options = ("from_logits", "label_smoothing")

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1, **kwargs: Any) -> None:
        if axis != -1:
            raise ValueError(f"CategoricalCrossentropy takes the classes on the last axis; got axis={axis!r}")
        super().__init__(from_logits=bool(from_logits), label_smoothing=float(label_smoothing), **kwargs)

    def per_sample(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        y = _smoothed(y_true.to(y_pred.dtype), self.label_smoothing, y_pred.shape[-1])  # type: ignore[attr-defined]
        return categorical_crossentropy(y, y_pred, from_logits=self.from_logits)  # type: ignore[attr-defined]


class BinaryCrossentropy(Loss):
    options = ("from_logits", "label_smoothing")

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1, **kwargs: Any) -> None:
        if axis != -1:
            raise ValueError(f"BinaryCrossentropy averages over the last axis; got axis={axis!r}")
        super().__init__(from_logits=bool(from_logits), label_smoothing=float(label_smoothing), **kwargs)

    def per_sample(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        y = _smoothed(y_true.to(y_pred.dtype), self.label_smoothing, 2.0)  # type: ignore[attr-defined]
        return binary_crossentropy(y, y_pred, from_logits=self.from_logits)  # type: ignore[attr-defined]


class Huber(Loss):
    fn = staticmethod(huber)
    options = ("delta",)

    def __init__(self, delta: float = 1.0, **kwargs: Any) -> None:
        super().__init__(delta=float(delta), **kwargs)


class CosineSimilarity(Loss):
    fn = staticmethod(cosine_similarity)
    options = ("axis",)

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(axis=int(axis), **kwargs)


def _plain(fn: Callable[..., torch.Tensor], class_name: str) -> type:
    return type(class_name, (Loss,), {"fn": staticmethod(fn), "__module__": __name__,
                                     "__doc__": f"Keras's `{class_name}`: `{fn.__name__}` as a loss object."})


MeanSquaredError = _plain(mean_squared_error, "MeanSquaredError")
MeanAbsoluteError = _plain(mean_absolute_error, "MeanAbsoluteError")
MeanAbsolutePercentageError = _plain(mean_absolute_percentage_error, "MeanAbsolutePercentageError")
MeanSquaredLogarithmicError = _plain(mean_squared_logarithmic_error, "MeanSquaredLogarithmicError")
LogCosh = _plain(log_cosh, "LogCosh")
KLDivergence = _plain(kl_divergence, "KLDivergence")
Poisson = _plain(poisson, "Poisson")
Hinge = _plain(hinge, "Hinge")
SquaredHinge = _plain(squared_hinge, "SquaredHinge")

CLASSES = {cls.__name__: cls for cls in (
    SparseCategoricalCrossentropy, CategoricalCrossentropy, BinaryCrossentropy, Huber, CosineSimilarity,
    MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError, LogCosh,
    KLDivergence, Poisson, Hinge, SquaredHinge)}


def get(identifier: LossLike) -> LossFn:
    """A loss function from a Keras name or a callable `(y_true, y_pred) -> per-sample losses`."""
    if isinstance(identifier, str):
        if identifier not in _REGISTRY:
            raise ValueError(f"Unknown loss {identifier!r}; use one of {', '.join(sorted(_REGISTRY))} or a callable")
        return _REGISTRY[identifier]
    if isinstance(identifier, Loss):
        return identifier.per_sample
    if callable(identifier):
        return identifier
    raise ValueError(f"Expected a loss name or a callable, got loss={identifier!r}")


def _weight_like(values: torch.Tensor, sample_weight: torch.Tensor) -> torch.Tensor:
    """`sample_weight` with trailing axes of one added to match `values`; a ValueError when it
    cannot weigh them (more axes, or a size that is neither theirs nor one)."""
    weight = sample_weight.to(values.dtype)
    while weight.dim() < values.dim():
        weight = weight.unsqueeze(-1)
    if weight.dim() > values.dim() or any(w not in (1, v) for w, v in zip(weight.shape, values.shape)):
        per_sample = (values.shape[0],) if values.dim() else ()
        raise ValueError(
            f"sample_weight of shape {tuple(sample_weight.shape)} (in this batch) cannot weigh the losses of "
            f"shape {tuple(values.shape)}: give one weight per sample, shape {per_sample} in a batch"
            + (f", or one per sample and step, shape {tuple(values.shape)}" if values.dim() > 1 else "")
        )
    return weight


def masked_weights(mask: torch.Tensor, sample_weight: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor:
    """Keras's weights for the per-step losses of a masked sequence output: 0 at masked steps and
    total / valid elsewhere, so that `reduce` averages over the valid steps only; times
    `sample_weight` when given.

    >>> masked_weights(torch.tensor([[True, True, False, False]]), None, torch.float32)
    tensor([[2., 2., 0., 0.]])
    """
    weight = mask.to(dtype)
    weight = weight * (weight.numel() / (weight.sum() + EPSILON))
    if sample_weight is not None:
        weight = weight * _weight_like(weight, sample_weight)
    return weight


def reduce(values: torch.Tensor, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Keras 3's "sum over batch size": Σ(values · weight) / number of values.

    >>> reduce(torch.tensor([1.0, 3.0]), torch.tensor([1.0, 0.0])).item()
    0.5
    """
    if sample_weight is not None:
        values = values * _weight_like(values, sample_weight)
    return values.sum() / max(values.numel(), 1)
