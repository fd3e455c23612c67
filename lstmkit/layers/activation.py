"""`Activation`: applies an activation function (by Keras's name, or any callable) on its own;
and Keras's activation layers with settings of their own: `ReLU`, `LeakyReLU`, `ELU`, `Softmax`,
`PReLU` (learned slopes)."""

from __future__ import annotations

from typing import Any

import torch

from .. import activations, constraints, initializers, regularizers
from .base import Layer


class Activation(Layer):
    """`Activation("softmax")` applies softmax to its input; the mask passes through.

    As a model's last layer its softmax or sigmoid is left to the crossentropy loss, which
    computes it from the logits (the same value, without underflow), as Dense's is.
    """

    def __init__(self, activation: activations.ActivationLike, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, logits: bool = False,
             **kwargs: Any) -> torch.Tensor:
        return x if logits else self.activation(x)

    def logits_activation(self) -> activations.Activation | None:
        return self.activation

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


def _number(name: str, value: Any, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (minimum is not None and value < minimum):
        raise ValueError(f"Expected {name} to be a number{'' if minimum is None else f' >= {minimum}'}, got {name}={value!r}")
    return float(value)


class ReLU(Layer):
    """Keras's `ReLU` layer: x for x >= threshold, else negative_slope · (x - threshold); capped
    at `max_value` when given."""

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0, threshold: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else _number("max_value", max_value, minimum=0.0)
        self.negative_slope = _number("negative_slope", negative_slope, minimum=0.0)
        self.threshold = _number("threshold", threshold)

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        y = torch.where(x >= self.threshold, x, self.negative_slope * (x - self.threshold))
        return y if self.max_value is None else torch.clamp(y, max=self.max_value)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(Layer):
    """x for x >= 0, else negative_slope · x; Keras 2 called the slope `alpha` (default 0.3)."""

    def __init__(self, negative_slope: float = 0.3, alpha: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.negative_slope = _number("negative_slope", negative_slope if alpha is None else alpha, minimum=0.0)

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        return torch.where(x >= 0, x, self.negative_slope * x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(Layer):
    """x for x > 0, else alpha · (exp(x) - 1)."""

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = _number("alpha", alpha)

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        return torch.where(x > 0, x, self.alpha * torch.expm1(torch.clamp(x, max=0.0)))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(Layer):
    """Softmax over `axis` (default the last); with a mask (B, T) on a (B, T) input the masked
    entries get probability 0, as Keras does."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"Expected axis to be an integer, got axis={axis!r}")
        self.axis = axis

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        if mask is not None and tuple(mask.shape) == tuple(x.shape):
            x = x.masked_fill(~mask.bool(), float("-inf"))
        return torch.softmax(x, dim=self.axis)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class PReLU(Layer):
    """x for x >= 0, else α · x with α learned per feature (weights: alpha, of the input's shape
    without the batch, sizes of `shared_axes` set to 1)."""

    def __init__(self, alpha_initializer: Any = "zeros", alpha_regularizer: Any = None, alpha_constraint: Any = None,
                 shared_axes: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        axes = [] if shared_axes is None else [shared_axes] if isinstance(shared_axes, int) else list(shared_axes)
        if any(isinstance(a, bool) or not isinstance(a, int) or a < 1 for a in axes):
            raise ValueError(f"shared_axes must be axes after the batch (1, 2, ...), got shared_axes={shared_axes!r}")
        self.shared_axes = axes
        self.alpha: torch.nn.Parameter | None = None

    def build(self, input_shape: Any) -> None:
        shape = [1 if i + 1 in self.shared_axes else int(d) for i, d in enumerate(input_shape[1:])]
        self.alpha = torch.nn.Parameter(initializers.make(self.alpha_initializer, shape, torch.get_default_dtype()))

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        assert self.alpha is not None
        return torch.where(x >= 0, x, self.alpha * x)

    def weight_regularizers(self) -> list[tuple[torch.Tensor, Any]]:
        return [] if self.alpha is None or self.alpha_regularizer is None else [(self.alpha, self.alpha_regularizer)]

    def weight_constraints(self) -> list[tuple[torch.Tensor, Any]]:
        return [] if self.alpha is None or self.alpha_constraint is None else [(self.alpha, self.alpha_constraint)]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha_initializer": self.alpha_initializer,
                "alpha_regularizer": self.alpha_regularizer, "alpha_constraint": self.alpha_constraint,
                "shared_axes": self.shared_axes or None}
