"""`Masking`: marks time steps whose features all equal `mask_value` as padding."""

from __future__ import annotations

from typing import Any

import torch

from .base import Layer


class Masking(Layer):
    """Masks every time step whose features all equal `mask_value`.

    The output is the input with those steps set to zero, and the mask (B, T) is True where a
    step holds data; recurrent layers downstream skip the masked steps (state carried over).

    >>> import torch
    >>> x = torch.tensor([[[1.0, 2.0], [0.0, 0.0], [3.0, 0.0]]])
    >>> Masking(0.0).compute_mask(x, None).tolist()
    [[True, False, True]]
    """

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def step_mask(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, timesteps) booleans: True at steps where some feature differs from `mask_value`."""
        return (x != self.mask_value).any(dim=-1)  # (B, T)

    def call(self, x: torch.Tensor, *, mask: torch.Tensor | None = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        return x * self.step_mask(x).unsqueeze(-1).to(x.dtype)

    def compute_mask(self, x: Any, mask: torch.Tensor | None) -> torch.Tensor:
        return self.step_mask(self.as_input(x))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config
