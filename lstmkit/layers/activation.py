"""`Activation`: applies an activation function (by Keras's name, or any callable) on its own."""

from __future__ import annotations

from typing import Any

import torch

from .. import activations
from .base import Layer


class Activation(Layer):
    """`Activation("softmax")` applies softmax to its input; the mask passes through.

    As a model's last layer its softmax or sigmoid is left to the crossentropy loss, which
    computes it from the logits (the same value, without underflow), as Dense's is.
    """

    def __init__(self, activation: activations.ActivationLike, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, x: torch.Tensor, *, mask: Any = None, training: bool = False, logits: bool = False,
             **kwargs: Any) -> torch.Tensor:
        return x if logits else self.activation(x)

    def logits_activation(self) -> activations.Activation | None:
        return self.activation

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}
