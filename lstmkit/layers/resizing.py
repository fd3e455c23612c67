"""Changing the size of the steps or image axes without weights: `ZeroPadding1D/2D` add zeros at
the edges, `UpSampling1D/2D` repeat (or, in 2-D, interpolate) values."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .._checks import one_of
from .. import _spatial as sp
from .base import Layer, Shape


def _pairs(value: Any, rank: int) -> tuple[tuple[int, int], ...]:
    """Keras's padding forms: an int (all sides), one int per axis, or (before, after) per axis."""
    def pair(v: Any) -> tuple[int, int]:
        if isinstance(v, int) and not isinstance(v, bool):
            return (v, v)
        if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(a, int) and not isinstance(a, bool) for a in v):
            return (v[0], v[1])
        raise ValueError(f"Expected padding as an int, {rank} ints or {rank} (before, after) pairs, got padding={value!r}")

    result: tuple[tuple[int, int], ...]
    if rank == 1:
        result = (pair(value),)
    elif isinstance(value, int) and not isinstance(value, bool):
        result = ((value, value),) * rank
    elif isinstance(value, (list, tuple)) and len(value) == rank:
        result = tuple(pair(v) for v in value)
    else:
        raise ValueError(f"Expected padding as an int, {rank} ints or {rank} (before, after) pairs, got padding={value!r}")
    if any(a < 0 for p in result for a in p):
        raise ValueError(f"padding must not be negative, got padding={value!r}")
    return result


class ZeroPadding(Layer):
    rank = 0

    def __init__(self, padding: Any = 1, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.padding = _pairs(padding, self.rank)
        self.data_format = "channels_last" if self.rank == 1 else sp.data_format(data_format)

    def check_input_shape(self, input_shape: Shape) -> None:
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{type(self).__name__} layer {self.name!r} expects inputs of rank {self.rank + 2}, got "
                             f"shape {tuple(input_shape)}")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        spatial = [None if n is None else n + a + b for n, (a, b) in zip(sp.spatial_shape(input_shape, self.data_format),
                                                                          self.padding)]
        return sp.assemble(input_shape[0], spatial, sp.channels(input_shape, self.data_format), self.data_format)

    def compute_mask(self, x: Any, mask: Any) -> None:
        return None

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        y = sp.pad_spatial(sp.channels_first(x, self.data_format), self.padding)
        return sp.back_from_channels_first(y, self.data_format)

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "padding": self.padding[0] if self.rank == 1 else self.padding}
        if self.rank > 1:
            config["data_format"] = self.data_format
        return config


class ZeroPadding1D(ZeroPadding):
    """Zeros before and after the steps: (B, T, C) -> (B, T + before + after, C); `padding` an
    int or (before, after).

    >>> import torch
    >>> tuple(ZeroPadding1D((1, 2))(torch.ones(2, 3, 4)).shape)
    (2, 6, 4)
    """

    rank = 1


class ZeroPadding2D(ZeroPadding):
    """Zeros around images: `padding` an int, (rows, cols), or ((top, bottom), (left, right))."""

    rank = 2


class UpSampling1D(Layer):
    """Repeats each step `size` times: (B, T, C) -> (B, T·size, C)."""

    def __init__(self, size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = sp.per_axis("size", size, 1)[0]

    def check_input_shape(self, input_shape: Shape) -> None:
        if len(input_shape) != 3:
            raise ValueError(f"UpSampling1D layer {self.name!r} expects (batch, steps, channels), got {tuple(input_shape)}")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], None if input_shape[1] is None else input_shape[1] * self.size, input_shape[2])

    def compute_mask(self, x: Any, mask: Any) -> None:
        return None

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        return torch.repeat_interleave(x, self.size, dim=1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size}


class UpSampling2D(Layer):
    """Enlarges images by (rows, cols) = `size`: "nearest" repeats pixels, "bilinear" interpolates
    (half-pixel centres, as Keras 3 resizes)."""

    def __init__(self, size: int | tuple[int, int] = (2, 2), data_format: str | None = None,
                 interpolation: str = "nearest", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = sp.per_axis("size", size, 2)
        self.data_format = sp.data_format(data_format)
        self.interpolation = one_of("interpolation", interpolation, ("nearest", "bilinear"))

    def check_input_shape(self, input_shape: Shape) -> None:
        if len(input_shape) != 4:
            raise ValueError(f"UpSampling2D layer {self.name!r} expects inputs of rank 4, got shape {tuple(input_shape)}")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        spatial = [None if n is None else n * s for n, s in zip(sp.spatial_shape(input_shape, self.data_format), self.size)]
        return sp.assemble(input_shape[0], spatial, sp.channels(input_shape, self.data_format), self.data_format)

    def compute_mask(self, x: Any, mask: Any) -> None:
        return None

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        y = sp.channels_first(x, self.data_format)
        if self.interpolation == "nearest":
            y = torch.repeat_interleave(torch.repeat_interleave(y, self.size[0], dim=2), self.size[1], dim=3)
        else:
            y = F.interpolate(y, scale_factor=self.size, mode="bilinear", align_corners=False)
        return sp.back_from_channels_first(y, self.data_format)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}
