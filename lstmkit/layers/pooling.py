"""Pooling: `MaxPooling1D/2D/3D`, `AveragePooling1D/2D/3D` (windows), and
`GlobalMaxPooling1D/2D`, `GlobalAveragePooling1D/2D` (whole axes), as Keras computes them."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .. import _spatial as sp
from .base import Layer, Shape

_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


class Pooling(Layer):
    """The largest value (`MaxPooling*`) or the mean (`AveragePooling*`) of each window of
    `pool_size`, moved by `strides` (default `pool_size`). With padding="same" the windows at the
    edges are cut short: a maximum skips the padding, and a mean counts only the values inside,
    as TensorFlow does. Subclasses fix `rank` and `kind`."""

    rank = 0
    kind = "max"

    def __init__(
        self,
        pool_size: int | tuple[int, ...] = 2,
        strides: int | tuple[int, ...] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_size = sp.per_axis("pool_size", pool_size, self.rank)
        self.strides = self.pool_size if strides is None else sp.per_axis("strides", strides, self.rank)
        self.padding = sp.padding_mode(padding)
        self.data_format = sp.data_format(data_format)

    def check_input_shape(self, input_shape: Shape) -> None:
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{type(self).__name__} layer {self.name!r} expects inputs of rank {self.rank + 2}, got shape "
                             f"{tuple(input_shape)}")
        for size, k in zip(sp.spatial_shape(input_shape, self.data_format), self.pool_size):
            if size is not None and self.padding == "valid" and size < k:
                raise ValueError(f"{type(self).__name__} layer {self.name!r}: an axis of size {size} is shorter than "
                                 f"pool_size={self.pool_size} with padding='valid'; input shape {tuple(input_shape)}")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        spatial = [sp.output_size(n, k, s, 1, self.padding)
                   for n, k, s in zip(sp.spatial_shape(input_shape, self.data_format), self.pool_size, self.strides)]
        return sp.assemble(input_shape[0], spatial, sp.channels(input_shape, self.data_format), self.data_format)

    def compute_mask(self, x: Any, mask: Any) -> None:
        return None

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        x = sp.channels_first(x, self.data_format)  # (B, C, *spatial)
        amounts = [sp.pads(n, k, s, 1, self.padding) for n, k, s in zip(x.shape[2:], self.pool_size, self.strides)]
        if self.kind == "max":
            y = _MAX[self.rank](sp.pad_spatial(x, amounts, float("-inf")), self.pool_size, self.strides)
        else:
            y = _AVG[self.rank](sp.pad_spatial(x, amounts), self.pool_size, self.strides)
            if any(a for pair in amounts for a in pair):  # divide by the values inside, not the window
                inside = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
                y = y / _AVG[self.rank](sp.pad_spatial(inside, amounts), self.pool_size, self.strides)
        return sp.back_from_channels_first(y, self.data_format)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(pool_size=self.pool_size, strides=self.strides, padding=self.padding, data_format=self.data_format)
        return config


class MaxPooling1D(Pooling):
    """The maximum of each window of steps: (B, T, C) -> (B, T', C).

    >>> import torch
    >>> MaxPooling1D(2)(torch.arange(6.).reshape(1, 6, 1)).flatten().tolist()
    [1.0, 3.0, 5.0]
    """

    rank, kind = 1, "max"


class MaxPooling2D(Pooling):
    rank, kind = 2, "max"


class MaxPooling3D(Pooling):
    rank, kind = 3, "max"


class AveragePooling1D(Pooling):
    rank, kind = 1, "average"


class AveragePooling2D(Pooling):
    rank, kind = 2, "average"


class AveragePooling3D(Pooling):
    rank, kind = 3, "average"


class GlobalPooling(Layer):
    """The maximum or mean over every spatial axis: (B, *spatial, C) -> (B, C), or with
    `keepdims=True` (B, 1, ..., 1, C). `GlobalAveragePooling1D` given a mask of the steps (B, T)
    averages the unmasked steps only, as Keras does. Subclasses fix `rank` and `kind`."""

    rank = 0
    kind = "max"

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = sp.data_format(data_format)
        self.keepdims = bool(keepdims)

    def check_input_shape(self, input_shape: Shape) -> None:
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{type(self).__name__} layer {self.name!r} expects inputs of rank {self.rank + 2}, got shape "
                             f"{tuple(input_shape)}")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        chans = sp.channels(input_shape, self.data_format)
        if not self.keepdims:
            return (input_shape[0], chans)
        return sp.assemble(input_shape[0], [1] * self.rank, chans, self.data_format)

    def compute_mask(self, x: Any, mask: Any) -> None:
        return None

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        axes = tuple(range(1, self.rank + 1)) if self.data_format == "channels_last" else tuple(range(2, self.rank + 2))
        if self.kind == "max":
            return torch.amax(x, dim=axes, keepdim=self.keepdims)
        if mask is not None and self.rank == 1:
            weights = mask.to(x.dtype).unsqueeze(-1 if self.data_format == "channels_last" else 1)  # (B, T, 1) / (B, 1, T)
            return (x * weights).sum(dim=axes, keepdim=self.keepdims) / weights.sum(dim=axes, keepdim=self.keepdims)
        return torch.mean(x, dim=axes, keepdim=self.keepdims)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalMaxPooling1D(GlobalPooling):
    """The maximum over the steps: (B, T, C) -> (B, C)."""

    rank, kind = 1, "max"


class GlobalMaxPooling2D(GlobalPooling):
    rank, kind = 2, "max"


class GlobalAveragePooling1D(GlobalPooling):
    """The mean over the steps (the unmasked ones when a mask comes with the input): (B, T, C) -> (B, C)."""

    rank, kind = 1, "average"


class GlobalAveragePooling2D(GlobalPooling):
    rank, kind = 2, "average"


# Keras 2's shorter names
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
