"""The reference GRU cell, in both of Keras's variants."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .. import activations
from ._cell import CellSettings, RecurrentCell, State, activation_field, masked_previous


@dataclass(frozen=True)
class GRUSettings(CellSettings):
    """A GRU cell's options, Keras's names and defaults."""

    recurrent_activation: activations.Activation = activation_field("sigmoid")
    reset_after: bool = True

    def normalised(self) -> dict[str, Any]:
        return dict(super().normalised(), recurrent_activation=activations.get(self.recurrent_activation),
                    reset_after=bool(self.reset_after))


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

    settings_class = GRUSettings
    settings: GRUSettings
    gate_blocks = 3
    state_count = 1
    kernel_name = "gru"

    def bias_shape(self) -> tuple[int, ...]:
        H3 = 3 * self.settings.units
        return (2, H3) if self.settings.reset_after else (H3,)

    def input_bias(self) -> torch.Tensor:
        bias = super().input_bias()
        return bias[0] if self.settings.reset_after else bias

    def step(
        self,
        xw: torch.Tensor,
        state: State,
        recurrent_mask: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        s = self.settings
        (h,) = state  # (B, H)
        H = s.units
        h_in = masked_previous(h, recurrent_mask)
        x_z, x_r, x_h = xw.chunk(3, dim=-1)
        if s.reset_after:
            hu = h_in @ self.recurrent_kernel  # (B, 3H)
            if self.bias is not None:
                hu = hu + self.bias[1]
            h_z, h_r, h_h = hu.chunk(3, dim=-1)
            z = s.recurrent_activation(x_z + h_z)
            r = s.recurrent_activation(x_r + h_r)
            g = s.activation(x_h + r * h_h)
        else:
            h_z, h_r = (h_in @ self.recurrent_kernel[:, : 2 * H]).chunk(2, dim=-1)  # (B, H) each
            z = s.recurrent_activation(x_z + h_z)
            r = s.recurrent_activation(x_r + h_r)
            g = s.activation(x_h + (r * h_in) @ self.recurrent_kernel[:, 2 * H :])
        h = z * h + (1.0 - z) * g
        return h, (h,)

    def loop_tensors(self, x: torch.Tensor) -> dict[str, torch.Tensor | None]:
        """The loop's tensors and, with reset_after, the recurrent bias b_r (the cell's own): the
        bias's two rows from one `unbind`, whose backward stacks their gradients in one operator
        (a row taken apart by each of `input_bias` and `step` makes a zero gradient of the whole
        bias per row and adds the two: five launches on a GPU)."""
        tensors = super().loop_tensors(x)
        tensors["b_r"] = None  # none without reset_after or without a bias
        if self.settings.reset_after and self.bias is not None:
            tensors["b"], tensors["b_r"] = self.bias.unbind(0)
        return tensors

    def kernel_options(self) -> dict[str, Any]:
        s = self.settings
        return dict(act=s.activation, ract=s.recurrent_activation, reset_after=s.reset_after)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", reset_after={self.settings.reset_after}"
