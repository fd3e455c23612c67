"""`Dropout`: zeroes a fraction of the inputs at training time, identity at inference."""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F

from .. import _checks
from .base import Layer


class Dropout(Layer):
    """Sets a fraction `rate` of inputs to zero at training time and scales the rest by 1/(1-rate).

    Args:
        rate: Fraction to drop, in [0, 1).
        noise_shape: Shape of the dropout mask, broadcast against the input; None entries take
            the input's size. `(None, 1, None)` on (B, T, D) drops the same features at every step.
        seed: Accepted for Keras compatibility; seed torch (`torch.manual_seed`) instead.

    >>> import torch
    >>> layer = Dropout(0.5).eval()
    >>> bool((layer(torch.ones(3, 4)) == 1).all())
    True
    """

    def __init__(self, rate: float, noise_shape: Sequence[int | None] | None = None, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rate = _checks.rate("rate", rate)  # the argument shadows the check's name here
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed

    def call(self, x: torch.Tensor, *, mask: torch.Tensor | None = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        if not training or self.rate == 0.0:
            return x
        if self.noise_shape is None:
            return F.dropout(x, self.rate, training=True)
        if len(self.noise_shape) != x.dim():
            raise ValueError(
                f"Dropout layer {self.name!r}: noise_shape={self.noise_shape} has {len(self.noise_shape)} "
                f"dimensions, the input has {x.dim()} (shape {tuple(x.shape)})"
            )
        shape = tuple(n if d is None else d for d, n in zip(self.noise_shape, x.shape))
        keep = F.dropout(torch.ones(shape, dtype=x.dtype, device=x.device), self.rate, training=True)
        return x * keep

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(rate=self.rate, noise_shape=self.noise_shape, seed=self.seed)
        return config

    def extra_repr(self) -> str:
        return f"name={self.name!r}, rate={self.rate}"

