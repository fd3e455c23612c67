"""The reference GRU cell, in both of Keras's variants."""

from __future__ import annotations

import torch

from .. import activations, initializers
from ._cell import RecurrentCell, State, masked_previous


class GRUCell(RecurrentCell):
    """Gated recurrent unit (Cho et al. 2014), Keras's gate order z, r, h.

    With σ the recurrent activation and φ the activation (sigmoid and tanh by default), one step:

        x_z, x_r, x_h = x W + b_in                         (B, 3H)
        z = σ(x_z + h U_z + b_rz)     r = σ(x_r + h U_r + b_rr)
        reset_after=True  (Keras 3's default, cuDNN's and torch.nn.GRU's form):
            g = φ(x_h + r ⊙ (h U_h + b_rh))
        reset_after=False (the original paper's form):
            g = φ(x_h + (r ⊙ h) U_h)
        h' = z ⊙ h + (1 - z) ⊙ g

    With reset_after the bias is (2, 3H), row 0 the input bias b_in and row 1 the recurrent bias
    b_r; without it the bias is (3H,) and enters on the input side only.

    >>> cell = GRUCell(3, 4)
    >>> tuple(cell.bias.shape), tuple(GRUCell(3, 4, reset_after=False).bias.shape)
    ((2, 12), (12,))
    """

    gate_blocks = 3
    state_count = 1

    def __init__(
        self,
        input_dim: int,
        units: int,
        *,
        activation: activations.ActivationLike = "tanh",
        recurrent_activation: activations.ActivationLike = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: initializers.InitializerLike = "glorot_uniform",
        recurrent_initializer: initializers.InitializerLike = "orthogonal",
        bias_initializer: initializers.InitializerLike = "zeros",
        reset_after: bool = True,
    ) -> None:
        self.reset_after = bool(reset_after)
        super().__init__(
            input_dim,
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            bias_shape=(2, 3 * units) if reset_after else (3 * units,),
        )
        self.recurrent_activation = activations.get(recurrent_activation)

    def input_bias(self) -> torch.Tensor:
        assert self.bias is not None
        return self.bias[0] if self.reset_after else self.bias

    def step(
        self, xw: torch.Tensor, state: State, recurrent_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        (h,) = state  # (B, H)
        H = self.units
        h_in = masked_previous(h, recurrent_mask)
        x_z, x_r, x_h = xw.chunk(3, dim=-1)
        if self.reset_after:
            hu = h_in @ self.recurrent_kernel  # (B, 3H)
            if self.bias is not None:
                hu = hu + self.bias[1]
            h_z, h_r, h_h = hu.chunk(3, dim=-1)
            z = self.recurrent_activation(x_z + h_z)
            r = self.recurrent_activation(x_r + h_r)
            g = self.activation(x_h + r * h_h)
        else:
            h_z, h_r = (h_in @ self.recurrent_kernel[:, : 2 * H]).chunk(2, dim=-1)  # (B, H) each
            z = self.recurrent_activation(x_z + h_z)
            r = self.recurrent_activation(x_r + h_r)
            g = self.activation(x_h + (r * h_in) @ self.recurrent_kernel[:, 2 * H :])
        h = z * h + (1.0 - z) * g
        return h, (h,)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", reset_after={self.reset_after}"
