"""Convolutions over steps, images and volumes: `Conv1D`, `Conv2D`, `Conv3D`, with Keras's
arguments and weight layout."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import activations, constraints, initializers, regularizers
from .._checks import positive_int
from .. import _spatial as sp
from .base import Layer, Shape

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


class Conv(Layer):
    """A convolution of rank 1, 2 or 3 (the subclasses fix it): y = activation(x ⋆ W + b).

    With channels_last data (Keras's default) an input (B, *spatial, C) gives (B, *spatial', filters);
    each spatial size becomes ceil(n / stride) with padding="same", ceil((n - (k - 1)·d) / stride)
    with "valid"; "causal" (Conv1D only) pads (k - 1)·d zeros before the steps, so step t sees
    only steps up to t.

    Weights, in order: kernel (*kernel_size, C / groups, filters), bias (filters,), Keras's layout.

    Args:
        filters: Output channels.
        kernel_size: The window, an int or one per spatial axis.
        strides: Step of the window, an int or one per axis (strides > 1 and dilation_rate > 1 exclude each other).
        padding: "valid" (none), "same" (TensorFlow's rule: the odd zero goes after) or, for Conv1D, "causal".
        data_format: "channels_last" or "channels_first"; default `backend.image_data_format()`.
        dilation_rate: Spacing of the window's taps.
        groups: Split the channels into this many groups convolved apart.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint: As for `Dense`.
    """

    rank = 0

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | tuple[int, ...] = 1,
        groups: int = 1,
        activation: activations.ActivationLike = None,
        use_bias: bool = True,
        kernel_initializer: initializers.InitializerLike = "glorot_uniform",
        bias_initializer: initializers.InitializerLike = "zeros",
        kernel_regularizer: regularizers.RegularizerLike = None,
        bias_regularizer: regularizers.RegularizerLike = None,
        activity_regularizer: regularizers.RegularizerLike = None,
        kernel_constraint: constraints.ConstraintLike = None,
        bias_constraint: constraints.ConstraintLike = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filters = positive_int("filters", filters)
        self.kernel_size = sp.per_axis("kernel_size", kernel_size, self.rank)
        self.strides = sp.per_axis("strides", strides, self.rank)
        self.padding = sp.padding_mode(padding, ("valid", "same", "causal") if self.rank == 1 else ("valid", "same"))
        self.data_format = sp.data_format(data_format)
        self.dilation_rate = sp.per_axis("dilation_rate", dilation_rate, self.rank)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"strides={self.strides} and dilation_rate={self.dilation_rate} cannot both exceed 1")
        self.groups = positive_int("groups", groups)
        if self.filters % self.groups:
            raise ValueError(f"filters={filters} must be a multiple of groups={groups}")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.kernel: nn.Parameter | None = None
        self.bias: nn.Parameter | None = None

    def shape_from_input_dim(self, input_dim: int) -> Shape:
        return (None,) * self.rank + (input_dim,) if self.data_format == "channels_last" else (input_dim,) + (None,) * self.rank

    def check_input_shape(self, input_shape: Shape) -> None:
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} expects inputs of rank {self.rank + 2} (batch, "
                f"{'spatial axes, channels' if self.data_format == 'channels_last' else 'channels, spatial axes'}), "
                f"got shape {tuple(input_shape)}"
            )
        chans = sp.channels(input_shape, self.data_format)
        if chans is None:
            raise ValueError(f"{type(self).__name__} layer {self.name!r} needs a known number of channels, got {tuple(input_shape)}")
        if chans % self.groups:
            raise ValueError(f"{type(self).__name__} layer {self.name!r}: {chans} input channels are not a multiple of "
                             f"groups={self.groups}")
        if self.kernel is not None and chans != self.kernel.shape[-2] * self.groups:
            raise ValueError(f"{type(self).__name__} layer {self.name!r} was built for {self.kernel.shape[-2] * self.groups} "
                             f"channels, got input of shape {tuple(input_shape)}")
        for size, k, d in zip(sp.spatial_shape(input_shape, self.data_format), self.kernel_size, self.dilation_rate):
            if size is not None and self.padding == "valid" and size < (k - 1) * d + 1:
                raise ValueError(f"{type(self).__name__} layer {self.name!r}: an axis of size {size} is shorter than the "
                                 f"window ({(k - 1) * d + 1}) with padding='valid'; input shape {tuple(input_shape)}")

    def build(self, input_shape: Shape) -> None:
        dtype = torch.get_default_dtype()
        chans = int(sp.channels(input_shape, self.data_format))
        shape = (*self.kernel_size, chans // self.groups, self.filters)
        self.kernel = nn.Parameter(initializers.make(self.kernel_initializer, shape, dtype))
        if self.use_bias:
            self.bias = nn.Parameter(initializers.make(self.bias_initializer, (self.filters,), dtype))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        spatial = [sp.output_size(n, k, s, d, self.padding) for n, k, s, d in
                   zip(sp.spatial_shape(input_shape, self.data_format), self.kernel_size, self.strides, self.dilation_rate)]
        return sp.assemble(input_shape[0], spatial, self.filters, self.data_format)

    def compute_mask(self, x: Any, mask: Any) -> None:
        return None

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        assert self.kernel is not None
        x = sp.channels_first(x.to(self.kernel.dtype), self.data_format)  # (B, C, *spatial)
        amounts = [sp.pads(n, k, s, d, self.padding) for n, k, s, d in
                   zip(x.shape[2:], self.kernel_size, self.strides, self.dilation_rate)]
        weight = self.kernel.permute(self.rank + 1, self.rank, *range(self.rank))  # (filters, C / groups, *kernel)
        y = _CONV[self.rank](sp.pad_spatial(x, amounts), weight, self.bias, self.strides, 0, self.dilation_rate, self.groups)
        y = self.activation(sp.back_from_channels_first(y, self.data_format))
        if self.activity_regularizer is not None:
            self.record_activity(y)
        return y

    def weight_regularizers(self) -> list[tuple[torch.Tensor, Any]]:
        pairs = [(self.kernel, self.kernel_regularizer), (self.bias, self.bias_regularizer)]
        return [(w, r) for w, r in pairs if w is not None and r is not None]

    def weight_constraints(self) -> list[tuple[torch.Tensor, Any]]:
        pairs = [(self.kernel, self.kernel_constraint), (self.bias, self.bias_constraint)]
        return [(w, c) for w, c in pairs if w is not None and c is not None]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            filters=self.filters, kernel_size=self.kernel_size, strides=self.strides, padding=self.padding,
            data_format=self.data_format, dilation_rate=self.dilation_rate, groups=self.groups,
            activation=activations.serialize(self.activation), use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer, bias_initializer=self.bias_initializer,
            kernel_regularizer=self.kernel_regularizer, bias_regularizer=self.bias_regularizer,
            activity_regularizer=self.activity_regularizer, kernel_constraint=self.kernel_constraint,
            bias_constraint=self.bias_constraint,
        )
        return config

    def extra_repr(self) -> str:
        return f"name={self.name!r}, filters={self.filters}, kernel_size={self.kernel_size}"


class Conv1D(Conv):
    """1-D convolution over steps: (B, T, C) -> (B, T', filters); see `Conv`.

    >>> import torch
    >>> tuple(Conv1D(8, 3, padding="causal")(torch.zeros(2, 10, 4)).shape)
    (2, 10, 8)
    """

    rank = 1


class Conv2D(Conv):
    """2-D convolution over images: (B, H, W, C) -> (B, H', W', filters); see `Conv`.

    >>> import torch
    >>> tuple(Conv2D(8, (3, 3), strides=2, padding="same")(torch.zeros(2, 9, 9, 3)).shape)
    (2, 5, 5, 8)
    """

    rank = 2


class Conv3D(Conv):
    """3-D convolution over volumes (or frames of images): (B, D, H, W, C) -> (B, D', H', W', filters); see `Conv`."""

    rank = 3


Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D  # Keras 1 and 2's longer names
