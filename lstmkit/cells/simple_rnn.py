"""The reference fully-connected recurrent cell (Elman network)."""

from __future__ import annotations

import torch

from .. import activations, initializers
from ._cell import RecurrentCell, State, masked_previous


class SimpleRNNCell(RecurrentCell):
    """Elman's recurrent cell: h' = φ(x W + h U + b), φ the activation (tanh by default).

    >>> cell = SimpleRNNCell(3, 4, activation="relu")
    >>> h, (state,) = cell(torch.ones(2, 3))
    >>> bool((h >= 0).all()), tuple(state.shape)
    (True, (2, 4))
    """

    gate_blocks = 1
    state_count = 1

    def __init__(
        self,
        input_dim: int,
        units: int,
        *,
        activation: activations.ActivationLike = "tanh",
        use_bias: bool = True,
        kernel_initializer: initializers.InitializerLike = "glorot_uniform",
        recurrent_initializer: initializers.InitializerLike = "orthogonal",
        bias_initializer: initializers.InitializerLike = "zeros",
    ) -> None:
        super().__init__(
            input_dim,
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            bias_shape=(units,),
        )

    def step(
        self, xw: torch.Tensor, state: State, recurrent_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        (h,) = state  # (B, H)
        h = self.activation(xw + masked_previous(h, recurrent_mask) @ self.recurrent_kernel)
        return h, (h,)
