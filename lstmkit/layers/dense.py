"""`Dense`: the fully-connected layer, acting on the last axis."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .. import activations, constraints, initializers, regularizers
from .._checks import positive_int
from .base import Layer, Shape


class Dense(Layer):
    """y = activation(x W + b) over the last axis; a (B, T, D) input gives (B, T, units).

    Weights, in order: kernel (input_dim, units), bias (units,).

    Args:
        units: Output size.
        activation: A name, a callable, or None for linear.
        use_bias: Whether to add a bias.
        kernel_initializer, bias_initializer: Names or callables.
        kernel_regularizer, bias_regularizer, activity_regularizer: Penalties in `layer.losses`.
        kernel_constraint, bias_constraint: Applied by `apply_constraints()`.
        **kwargs: `name`, `input_shape`, `input_dim`, `batch_input_shape`, `trainable`.

    >>> import torch
    >>> layer = Dense(3, activation="softmax")
    >>> y = layer(torch.ones(2, 4))
    >>> tuple(y.shape), torch.allclose(y.sum(-1), torch.ones(2))
    ((2, 3), True)
    """

    def __init__(
        self,
        units: int,
        activation: activations.ActivationLike = None,
        *,
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
        self.units = positive_int("units", units)
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

    def check_input_shape(self, input_shape: Shape) -> None:
        if len(input_shape) < 2:
            raise ValueError(
                f"Dense layer {self.name!r} expects input of shape (batch, ..., features), "
                f"got a {len(input_shape)}-D input of shape {tuple(input_shape)}"
            )
        if input_shape[-1] is None:
            raise ValueError(f"Dense layer {self.name!r} needs a known last dimension, got {tuple(input_shape)}")
        if self.kernel is not None and input_shape[-1] != self.kernel.shape[0]:
            raise ValueError(
                f"Dense layer {self.name!r} was built for inputs of shape {self.input_shape_built} "
                f"({self.kernel.shape[0]} features), got input of shape {tuple(input_shape)}: axis -1 has "
                f"{input_shape[-1]}, not {self.kernel.shape[0]}"
            )

    def build(self, input_shape: Shape) -> None:
        dtype = torch.get_default_dtype()
        self.kernel = nn.Parameter(initializers.make(self.kernel_initializer, (int(input_shape[-1]), self.units), dtype))
        if self.use_bias:
            self.bias = nn.Parameter(initializers.make(self.bias_initializer, (self.units,), dtype))

    def call(
        self,
        x: torch.Tensor,
        *,
        mask: torch.Tensor | None = None,
        training: bool = False,
        logits: bool = False,
        **kwargs: Any,
    ) -> torch.Tensor:
        """`logits=True` returns x W + b before the activation (see `logits_activation`)."""
        assert self.kernel is not None
        z = x.to(self.kernel.dtype) @ self.kernel  # (..., units)
        if self.bias is not None:
            z = z + self.bias
        if logits and self.activity_regularizer is None:
            return z
        y = self.activation(z)
        if self.activity_regularizer is not None:
            self.record_activity(y)
        return z if logits else y

    def logits_activation(self) -> activations.Activation | None:
        return self.activation

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.units)

    def weight_regularizers(self) -> list[tuple[torch.Tensor, Any]]:
        pairs = [(self.kernel, self.kernel_regularizer), (self.bias, self.bias_regularizer)]
        return [(w, r) for w, r in pairs if w is not None and r is not None]

    def weight_constraints(self) -> list[tuple[torch.Tensor, Any]]:
        pairs = [(self.kernel, self.kernel_constraint), (self.bias, self.bias_constraint)]
        return [(w, c) for w, c in pairs if w is not None and c is not None]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            units=self.units,
            activation=activations.serialize(self.activation),
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            activity_regularizer=self.activity_regularizer,
            kernel_constraint=self.kernel_constraint,
            bias_constraint=self.bias_constraint,
        )
        return config

    def extra_repr(self) -> str:
        return f"name={self.name!r}, units={self.units}"
