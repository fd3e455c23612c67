"""Layers that rearrange a tensor without weights: `RepeatVector`, `Flatten`, `Reshape`, `Permute`.
Shapes are per sample: the batch axis is never touched."""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from .._checks import positive_int
from .base import Layer, Shape


class RepeatVector(Layer):
    """Repeats a (B, D) input `n` times: (B, n, D). The bridge from an encoder's last state to a
    decoder's time steps.

    >>> import torch
    >>> tuple(RepeatVector(3)(torch.zeros(2, 5)).shape)
    (2, 3, 5)
    """

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n = positive_int("n", n)

    def check_input_shape(self, input_shape: Shape) -> None:
        if len(input_shape) != 2:
            raise ValueError(f"RepeatVector layer {self.name!r} expects input of shape (batch, features), got "
                             f"{tuple(input_shape)}")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.n, input_shape[1])

    def compute_mask(self, x: Any, mask: Any) -> None:
        return None

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        return x.unsqueeze(1).expand(-1, self.n, -1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}


class Flatten(Layer):
    """Joins every axis after the batch into one: (B, d1, d2, ...) -> (B, d1·d2·...)."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Flatten supports data_format='channels_last' (or None), got data_format={data_format!r}")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        rest = input_shape[1:]
        return (input_shape[0], None if any(d is None for d in rest) else math.prod(rest))

    def compute_mask(self, x: Any, mask: Any) -> None:
        return None

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)


class Reshape(Layer):
    """Gives each sample `target_shape` (without the batch); one entry may be -1, worked out
    from the others.

    >>> import torch
    >>> tuple(Reshape((3, -1))(torch.zeros(2, 12)).shape)
    (2, 3, 4)
    """

    def __init__(self, target_shape: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        shape = tuple(target_shape)
        if (not shape or any(isinstance(d, bool) or not isinstance(d, int) or (d < 1 and d != -1) for d in shape)
                or shape.count(-1) > 1):
            raise ValueError(f"Reshape's target_shape must be positive sizes with at most one -1, got "
                             f"target_shape={target_shape!r}")
        self.target_shape = shape

    def _resolve(self, input_shape: Shape) -> tuple[int | None, ...]:
        rest = input_shape[1:]
        if any(d is None for d in rest):
            return tuple(None if d == -1 else d for d in self.target_shape)
        total, known = math.prod(rest), math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if total % known:
                raise ValueError(f"Reshape layer {self.name!r} cannot shape input {tuple(input_shape)} ({total} values per "
                                 f"sample) to {self.target_shape}: {total} is not a multiple of {known}")
            return tuple(total // known if d == -1 else d for d in self.target_shape)
        if total != known:
            raise ValueError(f"Reshape layer {self.name!r} cannot shape input {tuple(input_shape)} ({total} values per "
                             f"sample) to {self.target_shape} ({known} values)")
        return self.target_shape

    def check_input_shape(self, input_shape: Shape) -> None:
        self._resolve(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], *self._resolve(input_shape))

    def compute_mask(self, x: Any, mask: Any) -> None:
        return None

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.target_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Permute(Layer):
    """Reorders the axes after the batch: `dims` is a permutation of 1..rank-1 (Keras counts from
    1, the batch being 0). `Permute((2, 1))` turns (B, T, D) into (B, D, T)."""

    def __init__(self, dims: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        dims = tuple(dims)
        if sorted(dims) != list(range(1, len(dims) + 1)) or any(isinstance(d, bool) for d in dims):
            raise ValueError(f"Permute's dims must be a permutation of 1..{len(dims)} (the axes after the batch), got "
                             f"dims={dims!r}")
        self.dims = dims

    def check_input_shape(self, input_shape: Shape) -> None:
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(f"Permute layer {self.name!r} with dims={self.dims} expects inputs of rank {len(self.dims) + 1}, "
                             f"got shape {tuple(input_shape)}")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def compute_mask(self, x: Any, mask: Any) -> None:
        return None

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        return x.permute(0, *self.dims)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dims": list(self.dims)}
