"""What convolution, pooling, padding and up-sampling layers share: per-axis arguments, Keras's
padding arithmetic, and moving the channels axis to where torch's kernels want it."""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from . import config
from ._checks import one_of


def per_axis(name: str, value: Any, rank: int, *, minimum: int = 1) -> tuple[int, ...]:
    """An int or a sequence of `rank` ints, as Keras takes kernel sizes, strides and dilations."""
    values = (value,) * rank if isinstance(value, int) and not isinstance(value, bool) else tuple(value) \
        if isinstance(value, (list, tuple)) else None
    if values is None or len(values) != rank or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum
                                                    for v in values):
        raise ValueError(f"Expected {name} to be an integer >= {minimum} or {rank} of them, got {name}={value!r}")
    return values


def data_format(value: str | None) -> str:
    """"channels_last" / "channels_first"; None means `config.image_data_format()`."""
    return config.image_data_format() if value is None else one_of("data_format", value, ("channels_last", "channels_first"))


def padding_mode(value: Any, allowed: tuple[str, ...] = ("valid", "same")) -> str:
    return one_of("padding", value.lower() if isinstance(value, str) else value, allowed)


def pads(size: int, kernel: int, stride: int, dilation: int, padding: str) -> tuple[int, int]:
    """Zeros to add before and after one axis of `size`: none for "valid"; for "same" as many as
    make ceil(size / stride) outputs, the odd one after (TensorFlow's rule, which Keras follows);
    for "causal" (kernel - 1) · dilation, all before."""
    span = (kernel - 1) * dilation + 1
    if padding == "causal":
        return span - 1, 0
    if padding == "valid":
        return 0, 0
    total = max((math.ceil(size / stride) - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def output_size(size: int | None, kernel: int, stride: int, dilation: int, padding: str) -> int | None:
    if size is None:
        return None
    if padding == "same":
        return math.ceil(size / stride)
    before, after = pads(size, kernel, stride, dilation, padding)
    return max((size + before + after - (kernel - 1) * dilation - 1) // stride + 1, 0)


def pad_spatial(x: torch.Tensor, amounts: Sequence[tuple[int, int]], value: float = 0.0) -> torch.Tensor:
    """Pads the trailing len(amounts) axes of a channels-first x by (before, after) each."""
    flat = [p for pair in reversed(amounts) for p in pair]
    return F.pad(x, flat, value=value) if any(flat) else x


def channels_first(x: torch.Tensor, fmt: str) -> torch.Tensor:
    """(B, *spatial, C) -> (B, C, *spatial) for channels_last data; channels_first as it is."""
    return x.movedim(-1, 1) if fmt == "channels_last" else x


def back_from_channels_first(x: torch.Tensor, fmt: str) -> torch.Tensor:
    return x.movedim(1, -1) if fmt == "channels_last" else x


def channels_last(x: torch.Tensor, fmt: str, axis: int = 1) -> torch.Tensor:
    """x with its channels last: channels_first data has them at `axis`; channels_last as it is."""
    return x if fmt == "channels_last" else x.movedim(axis, -1)


def back_from_channels_last(x: torch.Tensor, fmt: str, axis: int = 1) -> torch.Tensor:
    """The inverse of `channels_last`: channels back at `axis` for channels_first data."""
    return x if fmt == "channels_last" else x.movedim(-1, axis)


def spatial_shape(input_shape: Sequence[Any], fmt: str) -> tuple[Any, ...]:
    return tuple(input_shape[1:-1]) if fmt == "channels_last" else tuple(input_shape[2:])


def channels(input_shape: Sequence[Any], fmt: str) -> Any:
    return input_shape[-1] if fmt == "channels_last" else input_shape[1]


def assemble(batch: Any, spatial: Sequence[Any], chans: Any, fmt: str) -> tuple[Any, ...]:
    return (batch, *spatial, chans) if fmt == "channels_last" else (batch, chans, *spatial)
