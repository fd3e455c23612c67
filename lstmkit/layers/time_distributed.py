"""`TimeDistributed`: applies a layer to every time step of a sequence."""

from __future__ import annotations

from typing import Any

import torch

from .base import Layer, Shape
from .registry import deserialize, serialize


class TimeDistributed(Layer):
    """Applies `layer` to each of the T steps of a (B, T, ...) input, with the same weights.

    The steps are folded into the batch, (B*T, ...), for one call of the inner layer. The mask,
    if any, passes through.

    >>> import torch
    >>> from lstmkit.layers import Dense
    >>> tuple(TimeDistributed(Dense(2))(torch.zeros(4, 7, 3)).shape)
    (4, 7, 2)
    """

    def __init__(self, layer: Layer, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed wraps an lstmkit layer, got layer={layer!r}")
        super().__init__(**kwargs)
        self.layer = layer

    def check_input_shape(self, input_shape: Shape) -> None:
        if len(input_shape) < 3:
            raise ValueError(
                f"TimeDistributed layer {self.name!r} expects input of shape (batch, timesteps, ...), "
                f"got a {len(input_shape)}-D input of shape {tuple(input_shape)}"
            )
        if self.layer.built:
            self.layer.check_input_shape((None, *input_shape[2:]))

    def build(self, input_shape: Shape) -> None:
        self.layer.ensure_built((None, *input_shape[2:]))

    def call(self, x: torch.Tensor, *, mask: torch.Tensor | None = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        B, T = x.shape[:2]
        y = self.layer(x.reshape(B * T, *x.shape[2:]), mask=None, training=training, **kwargs)  # (B*T, ...)
        return y.reshape(B, T, *y.shape[1:])

    def logits_activation(self) -> Any:
        return self.layer.logits_activation()

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        inner = self.layer.compute_output_shape((None, *input_shape[2:]))
        return (input_shape[0], input_shape[1], *inner[1:])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["layer"] = serialize(self.layer)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TimeDistributed":
        """The layer again from `get_config()`'s dictionary, its wrapped layer rebuilt first."""
        config = dict(config)
        config["layer"] = deserialize(config["layer"])
        return cls(**config)
