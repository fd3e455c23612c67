"""`BatchNormalization`, `LayerNormalization` and `Normalization` (standardising by statistics
given or adapted from data), with Keras's arguments, defaults and weights."""

from __future__ import annotations

import numbers
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import constraints, initializers, regularizers
from .base import Layer, Shape


def _axes(name: str, axis: Any, rank: int) -> tuple[int, ...]:
    values = [axis] if isinstance(axis, int) and not isinstance(axis, bool) else list(axis) \
        if isinstance(axis, (list, tuple)) else None
    if not values or any(isinstance(a, bool) or not isinstance(a, int) or not -rank <= a < rank or a % rank == 0
                         for a in values):
        raise ValueError(f"{name}: axis={axis!r} must name axes of the {rank}-D input other than the batch (0)")
    return tuple(sorted(a % rank for a in values))


def _epsilon(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value) > 0:
        raise ValueError(f"Expected epsilon to be a positive number, got epsilon={value!r}")
    return float(value)


def _broadcast(v: torch.Tensor, axes: tuple[int, ...], rank: int) -> torch.Tensor:
    """A weight over `axes` shaped to broadcast against a rank-`rank` input."""
    shape = [1] * rank
    for a, n in zip(axes, v.shape):
        shape[a] = n
    return v.reshape(shape)


class _ScaleAndCenter(Layer):
    """What both normalisations share: the learned scale γ and centre β, their penalties and
    constraints, and applying them."""

    gamma: nn.Parameter | None
    beta: nn.Parameter | None
    gamma_regularizer: Any
    beta_regularizer: Any
    gamma_constraint: Any
    beta_constraint: Any

    def scale_and_center(self, y: torch.Tensor, axes: tuple[int, ...]) -> torch.Tensor:
        if self.gamma is not None:
            y = y * _broadcast(self.gamma, axes, y.dim())
        if self.beta is not None:
            y = y + _broadcast(self.beta, axes, y.dim())
        return y

    def weight_regularizers(self) -> list[tuple[torch.Tensor, Any]]:
        pairs = [(self.gamma, self.gamma_regularizer), (self.beta, self.beta_regularizer)]
        return [(w, r) for w, r in pairs if w is not None and r is not None]

    def weight_constraints(self) -> list[tuple[torch.Tensor, Any]]:
        pairs = [(self.gamma, self.gamma_constraint), (self.beta, self.beta_constraint)]
        return [(w, c) for w, c in pairs if w is not None and c is not None]


class BatchNormalization(_ScaleAndCenter):
    """Normalises each feature (the `axis`, by default the last) over the batch and the other axes.

    At training time: y = γ (x - μ_B) / sqrt(σ²_B + ε) + β with the batch's mean μ_B and (biased)
    variance σ²_B, and the moving statistics move toward them:
    moving = moving · momentum + batch · (1 - momentum). At inference the moving mean and
    variance take the batch's place. With a mask (B, T) on a (B, T, D) input the batch statistics
    count only the unmasked steps, as Keras 3 does.

    Weights, in Keras's order: gamma (scale), beta (center), moving_mean, moving_variance, each of
    the normalised axes' shape; the moving ones are not trained (torch buffers) but are weights as
    Keras counts and exchanges them (`get_weights`, `set_weights`, `count_params`).

    Args:
        axis: The feature axis (or axes).
        momentum: Of the moving statistics (Keras's default 0.99).
        epsilon: Added to the variance (Keras's default 1e-3).
        center, scale: Whether to learn β and γ.
        beta_initializer, gamma_initializer, moving_mean_initializer, moving_variance_initializer,
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint: As Keras takes them.
        synchronized: Accepted for Keras compatibility (statistics are this process's batch's).
    """

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: initializers.InitializerLike = "zeros",
        gamma_initializer: initializers.InitializerLike = "ones",
        moving_mean_initializer: initializers.InitializerLike = "zeros",
        moving_variance_initializer: initializers.InitializerLike = "ones",
        beta_regularizer: regularizers.RegularizerLike = None,
        gamma_regularizer: regularizers.RegularizerLike = None,
        beta_constraint: constraints.ConstraintLike = None,
        gamma_constraint: constraints.ConstraintLike = None,
        synchronized: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.axis = axis
        if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) or not 0 <= float(momentum) <= 1:
            raise ValueError(f"Expected momentum in [0, 1], got momentum={momentum!r}")
        self.momentum: float = float(momentum)
        self.epsilon: float = _epsilon(epsilon)
        self.center: bool = bool(center)
        self.scale: bool = bool(scale)
        self.beta_initializer: Any = initializers.get(beta_initializer)
        self.gamma_initializer: Any = initializers.get(gamma_initializer)
        self.moving_mean_initializer: Any = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer: Any = initializers.get(moving_variance_initializer)
        self.beta_regularizer: Any = regularizers.get(beta_regularizer)
        self.gamma_regularizer: Any = regularizers.get(gamma_regularizer)
        self.beta_constraint: Any = constraints.get(beta_constraint)
        self.gamma_constraint: Any = constraints.get(gamma_constraint)
        self.synchronized: bool = bool(synchronized)
        self.gamma = None
        self.beta = None
        self.moving_mean: torch.Tensor
        self.moving_variance: torch.Tensor
        self._feature_axes: tuple[int, ...] = ()

    def check_input_shape(self, input_shape: Shape) -> None:
        axes = _axes(f"BatchNormalization layer {self.name!r}", self.axis, len(input_shape))
        if any(input_shape[a] is None for a in axes):
            raise ValueError(f"BatchNormalization layer {self.name!r} needs known sizes on axis={self.axis!r}, got input "
                             f"shape {tuple(input_shape)}")
        if self.built and tuple(input_shape[a] for a in axes) != tuple(self.moving_mean.shape):
            raise ValueError(f"BatchNormalization layer {self.name!r} was built for {tuple(self.moving_mean.shape)} features, "
                             f"got input of shape {tuple(input_shape)}")

    def build(self, input_shape: Shape) -> None:
        self._feature_axes = _axes("BatchNormalization", self.axis, len(input_shape))
        shape = tuple(int(input_shape[a]) for a in self._feature_axes)
        dtype = torch.get_default_dtype()
        if self.scale:
            self.gamma = nn.Parameter(initializers.make(self.gamma_initializer, shape, dtype))
        if self.center:
            self.beta = nn.Parameter(initializers.make(self.beta_initializer, shape, dtype))
        self.register_buffer("moving_mean", initializers.make(self.moving_mean_initializer, shape, dtype))
        self.register_buffer("moving_variance", initializers.make(self.moving_variance_initializer, shape, dtype))

    @property
    def weights(self) -> list[Any]:
        if not self.built:
            return []
        return [w for w in (self.gamma, self.beta) if w is not None] + [self.moving_mean, self.moving_variance]

    def call(self, x: torch.Tensor, *, mask: torch.Tensor | None = None, training: bool = False,
             **kwargs: Any) -> torch.Tensor:
        x = x.to(self.moving_mean.dtype)
        rank = x.dim()
        reduce = [a for a in range(rank) if a not in self._feature_axes]
        if len(self._feature_axes) == 1 and (mask is None or not training):
            return self._one_axis(x, training)
        if training:
            if mask is not None and mask.dim() < rank:
                w = mask.to(x.dtype).reshape(*mask.shape, *([1] * (rank - mask.dim())))  # (B, T, 1...)
                w = w.expand_as(x)
                count = w.sum(dim=reduce, keepdim=True)
                mean = (x * w).sum(dim=reduce, keepdim=True) / count
                var = (((x - mean) ** 2) * w).sum(dim=reduce, keepdim=True) / count
            else:
                mean = x.mean(dim=reduce, keepdim=True)
                var = x.var(dim=reduce, unbiased=False, keepdim=True)
            with torch.no_grad():
                m = self.momentum
                self.moving_mean.mul_(m).add_(mean.reshape(self.moving_mean.shape).detach() * (1 - m))
                self.moving_variance.mul_(m).add_(var.reshape(self.moving_variance.shape).detach() * (1 - m))
        else:
            mean = _broadcast(self.moving_mean, self._feature_axes, rank)
            var = _broadcast(self.moving_variance, self._feature_axes, rank)
        return self.scale_and_center((x - mean) * torch.rsqrt(var + self.epsilon), self._feature_axes)

    def _one_axis(self, x: torch.Tensor, training: bool) -> torch.Tensor:
        """One feature axis and no mask: torch's batch norm, one pass for the statistics and one
        for the output, and only the statistics kept for the backward. The features go to axis 1
        ((N, C) rows where they are last: a view of channels-last data). Torch updates its running
        variance with the unbiased estimate, Keras its moving one with the biased: the moving
        statistics are updated here from the batch's mean and 1/√(σ² + ε)."""
        axis = self._feature_axes[0]
        last = axis == x.dim() - 1
        xc = x.reshape(-1, x.shape[-1]) if last else x.movedim(axis, 1)
        if not training:
            y = F.batch_norm(xc, self.moving_mean.reshape(-1), self.moving_variance.reshape(-1), self.gamma, self.beta,
                             False, 0.0, self.epsilon)
        else:
            y, mean, rstd = torch.ops.aten.native_batch_norm(xc, self.gamma, self.beta, None, None, True, 0.0,
                                                             self.epsilon)
            with torch.no_grad():
                m = self.momentum
                var = rstd.double().pow(-2).sub(self.epsilon).clamp_min(0).to(mean.dtype)
                self.moving_mean.mul_(m).add_(mean.reshape(self.moving_mean.shape) * (1 - m))
                self.moving_variance.mul_(m).add_(var.reshape(self.moving_variance.shape) * (1 - m))
        return y.view(x.shape) if last else y.movedim(1, axis)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            axis=self.axis, momentum=self.momentum, epsilon=self.epsilon, center=self.center, scale=self.scale,
            beta_initializer=self.beta_initializer, gamma_initializer=self.gamma_initializer,
            moving_mean_initializer=self.moving_mean_initializer,
            moving_variance_initializer=self.moving_variance_initializer,
            beta_regularizer=self.beta_regularizer, gamma_regularizer=self.gamma_regularizer,
            beta_constraint=self.beta_constraint, gamma_constraint=self.gamma_constraint,
            synchronized=self.synchronized,
        )
        return config


class LayerNormalization(_ScaleAndCenter):
    """Normalises each sample over `axis` (default the last): y = γ (x - μ) / sqrt(σ² + ε) + β,
    μ and σ² (biased) taken over those axes of that sample alone; the same in training and
    inference. With `rms_scaling=True`, Keras's (deprecated) form: y = γ x / sqrt(σ² + ε), no
    centring and no β; Keras itself warns that this divides by the variance, not the root mean
    square, and lstmkit computes what Keras computes.

    Weights, in order: gamma (when `scale`), beta (when `center`), of the normalised axes' shape.

    >>> import torch
    >>> y = LayerNormalization()(torch.tensor([[1.0, 2.0, 3.0]]))
    >>> y = y.detach(); round(float(y.mean()), 6), round(float(y.var(unbiased=False)), 3)
    (0.0, 0.999)
    """

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        rms_scaling: bool = False,
        beta_initializer: initializers.InitializerLike = "zeros",
        gamma_initializer: initializers.InitializerLike = "ones",
        beta_regularizer: regularizers.RegularizerLike = None,
        gamma_regularizer: regularizers.RegularizerLike = None,
        beta_constraint: constraints.ConstraintLike = None,
        gamma_constraint: constraints.ConstraintLike = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = _epsilon(epsilon)
        self.center, self.scale, self.rms_scaling = bool(center), bool(scale), bool(rms_scaling)
        self.beta_initializer: Any = initializers.get(beta_initializer)
        self.gamma_initializer: Any = initializers.get(gamma_initializer)
        self.beta_regularizer: Any = regularizers.get(beta_regularizer)
        self.gamma_regularizer: Any = regularizers.get(gamma_regularizer)
        self.beta_constraint: Any = constraints.get(beta_constraint)
        self.gamma_constraint: Any = constraints.get(gamma_constraint)
        self.gamma = None
        self.beta = None
        self._norm_axes: tuple[int, ...] = ()

    def check_input_shape(self, input_shape: Shape) -> None:
        axes = _axes(f"LayerNormalization layer {self.name!r}", self.axis, len(input_shape))
        if any(input_shape[a] is None for a in axes):
            raise ValueError(f"LayerNormalization layer {self.name!r} needs known sizes on axis={self.axis!r}, got input "
                             f"shape {tuple(input_shape)}")

    def build(self, input_shape: Shape) -> None:
        self._norm_axes = _axes("LayerNormalization", self.axis, len(input_shape))
        shape = tuple(int(input_shape[a]) for a in self._norm_axes)
        dtype = torch.get_default_dtype()
        if self.scale:
            self.gamma = nn.Parameter(initializers.make(self.gamma_initializer, shape, dtype))
        if self.center and not self.rms_scaling:
            self.beta = nn.Parameter(initializers.make(self.beta_initializer, shape, dtype))

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        x = x.to(self._placement.dtype)  # the layer's dtype, also with neither gamma nor beta
        if self.rms_scaling:
            y = x * torch.rsqrt(x.var(dim=self._norm_axes, unbiased=False, keepdim=True) + self.epsilon)
        else:
            mean = x.mean(dim=self._norm_axes, keepdim=True)
            var = x.var(dim=self._norm_axes, unbiased=False, keepdim=True)
            y = (x - mean) * torch.rsqrt(var + self.epsilon)
        return self.scale_and_center(y, self._norm_axes)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            axis=self.axis, epsilon=self.epsilon, center=self.center, scale=self.scale, rms_scaling=self.rms_scaling,
            beta_initializer=self.beta_initializer, gamma_initializer=self.gamma_initializer,
            beta_regularizer=self.beta_regularizer, gamma_regularizer=self.gamma_regularizer,
            beta_constraint=self.beta_constraint, gamma_constraint=self.gamma_constraint,
        )
        return config


class Normalization(Layer):
    """Keras's `Normalization`: (x − mean) / max(sqrt(variance), ε) per feature along `axis`
    (default the last), with the mean and variance given, or learned from data by `adapt(data)`
    (over every other axis, the variance biased, as Keras computes them); `invert=True` maps back.
    Not trained: the statistics are buffers, in `get_weights` as [mean, variance, count].

    >>> import numpy as np
    >>> layer = Normalization()
    >>> layer.adapt(np.array([[1.0], [3.0]]))
    >>> layer(np.array([[2.0], [3.0]])).flatten().tolist()
    [0.0, 1.0]
    """

    def __init__(self, axis: int | Sequence[int] | None = -1, mean: Any = None, variance: Any = None,
                 invert: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = () if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
        if (mean is None) != (variance is None):
            raise ValueError(f"Normalization needs both mean and variance, or neither; got mean={mean!r}, "
                             f"variance={variance!r}")
        self.given = None if mean is None else (np.asarray(mean, dtype=np.float64), np.asarray(variance, dtype=np.float64))
        self.invert = bool(invert)
        self.mean: torch.Tensor
        self.variance: torch.Tensor
        self.count: torch.Tensor

    def _feature_shape(self, input_shape: Shape) -> tuple[int, ...]:
        rank = len(input_shape)
        axes = _axes(f"Normalization layer {self.name!r}", self.axis, rank) if self.axis else ()
        return tuple(int(input_shape[a]) if a in axes else 1 for a in range(1, rank))

    def build(self, input_shape: Shape) -> None:
        shape = self._feature_shape(input_shape)
        dtype = torch.get_default_dtype()
        mean = torch.zeros(shape, dtype=dtype) if self.given is None else \
            torch.as_tensor(self.given[0], dtype=dtype).broadcast_to(shape).clone()
        variance = torch.ones(shape, dtype=dtype) if self.given is None else \
            torch.as_tensor(self.given[1], dtype=dtype).broadcast_to(shape).clone()
        self.register_buffer("mean", mean)
        self.register_buffer("variance", variance)
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))

    @property
    def weights(self) -> list[Any]:
        return [self.mean, self.variance, self.count] if self.built else []

    def adapt(self, data: Any, batch_size: Any = None, steps: Any = None) -> None:
        """Learns the mean and variance of `data` (an array, a tensor, or batches of arrays)."""
        if isinstance(data, (np.ndarray, torch.Tensor)) or (isinstance(data, list) and data and np.ndim(data[0]) == 0):
            x = torch.as_tensor(np.asarray(data, dtype=np.float64))
        else:
            x = torch.cat([torch.as_tensor(np.asarray(b[0] if isinstance(b, tuple) else b, dtype=np.float64)) for b in data])
        if x.dim() == 1:
            x = x.unsqueeze(-1)
        self.ensure_built((None, *x.shape[1:]))
        shape = self._feature_shape((None, *x.shape[1:]))
        reduce = [0] + [i + 1 for i, n in enumerate(shape) if n == 1 and i + 1 < x.dim()]
        with torch.no_grad():
            self.mean.copy_(x.mean(dim=reduce, keepdim=True).reshape(shape).to(self.mean.dtype))
            self.variance.copy_(x.var(dim=reduce, unbiased=False, keepdim=True).reshape(shape).to(self.variance.dtype))
            self.count.fill_(int(x.shape[0]))

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        x = x.to(self.mean.dtype)
        scale = torch.clamp(torch.sqrt(self.variance), min=1e-7)
        return self.mean + x * scale if self.invert else (x - self.mean) / scale

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "axis": list(self.axis) or None, "invert": self.invert}
        if self.built:
            config.update(mean=self.mean.tolist(), variance=self.variance.tolist())
        return config
