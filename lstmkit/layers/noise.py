"""Regularising noise layers, active at training time only: `GaussianNoise`, `GaussianDropout`."""

from __future__ import annotations

import numbers
from typing import Any

import torch

from .. import _checks
from .base import Layer


class GaussianNoise(Layer):
    """Adds zero-mean Gaussian noise of standard deviation `stddev` at training time; identity at inference.

    >>> import torch
    >>> bool((GaussianNoise(0.5)(torch.ones(3), training=False) == 1).all())
    True
    """

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, numbers.Real) or not float(stddev) >= 0:
            raise ValueError(f"Expected stddev to be a number >= 0, got stddev={stddev!r}")
        self.stddev: float = float(stddev)
        self.seed: int | None = seed

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        if not training or self.stddev == 0.0:
            return x
        return x + torch.randn_like(x) * self.stddev

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(Layer):
    """Multiplies by Gaussian noise of mean 1 and standard deviation sqrt(rate / (1 - rate)) at
    training time; identity at inference."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rate: float = _checks.rate("rate", rate)
        self.seed: int | None = seed

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        if not training or self.rate == 0.0:
            return x
        return x * (1.0 + torch.randn_like(x) * (self.rate / (1.0 - self.rate)) ** 0.5)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
