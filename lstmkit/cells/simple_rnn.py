"""The reference fully-connected recurrent cell (Elman network)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._cell import CellSettings, RecurrentCell, State, masked_previous


@dataclass(frozen=True)
class SimpleRNNSettings(CellSettings):
    """A SimpleRNN cell's options: those of every cell (units, activation, bias, initializers)."""


class SimpleRNNCell(RecurrentCell):
    """Elman's recurrent cell: h' = φ(x W + h U + b), φ the activation (tanh by default).

    >>> cell = SimpleRNNCell(3, 4, activation="relu")
    >>> h, (state,) = cell(torch.ones(2, 3))
    >>> bool((h >= 0).all()), tuple(state.shape)
    (True, (2, 4))
    """

    settings_class = SimpleRNNSettings
    gate_blocks = 1
    state_count = 1
    kernel_name = "simple_rnn"

    def step(
        self,
        xw: torch.Tensor,
        state: State,
        recurrent_mask: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        (h,) = state  # (B, H)
        h = self.settings.activation(xw + masked_previous(h, recurrent_mask) @ self.recurrent_kernel)
        return h, (h,)
