"""`Dropout`: zeroes a fraction of the inputs at training time, identity at inference."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from .. import _checks
from ..kernels import dropout_mask
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
            return x * dropout_mask(tuple(x.shape), self.rate, x)
        if len(self.noise_shape) != x.dim():
            raise ValueError(
                f"Dropout layer {self.name!r}: noise_shape={self.noise_shape} has {len(self.noise_shape)} "
                f"dimensions, the input has {x.dim()} (shape {tuple(x.shape)})"
            )
        shape = tuple(n if d is None else d for d, n in zip(self.noise_shape, x.shape))
        return x * dropout_mask(shape, self.rate, x)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(rate=self.rate, noise_shape=self.noise_shape, seed=self.seed)
        return config

    def extra_repr(self) -> str:
        return f"name={self.name!r}, rate={self.rate}"



class SpatialDropout1D(Dropout):
    """Dropout of whole channels: on (B, T, C) each sample drops a fraction `rate` of its C
    channels at every step alike (noise shape (B, 1, C)), as Keras's `SpatialDropout1D`.

    >>> import torch
    >>> y = SpatialDropout1D(0.5)(torch.ones(4, 6, 8), training=True)
    >>> bool(((y == 0).all(1) | (y != 0).all(1)).all())
    True
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(rate, noise_shape=None, seed=seed, **kwargs)

    def check_input_shape(self, input_shape: Any) -> None:
        if len(input_shape) != 3:
            raise ValueError(f"SpatialDropout1D layer {self.name!r} expects inputs of shape (batch, steps, channels), got "
                             f"{tuple(input_shape)}")

    def call(self, x: torch.Tensor, *, mask: torch.Tensor | None = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        if not training or self.rate == 0.0:
            return x
        return x * dropout_mask((x.shape[0], 1, x.shape[2]), self.rate, x)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("noise_shape")
        return config
