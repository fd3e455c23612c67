"""The reference convolutional LSTM cell (Shi et al. 2015, "Convolutional LSTM Network"), as
Keras's `ConvLSTM2D` computes it: no peepholes, the gates' products are convolutions."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import activations, initializers

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def same_pads(sizes: Sequence[int], kernel: Sequence[int]) -> list[int]:
    """F.pad's list for "same" padding at stride 1: (k - 1) zeros per axis, the odd one after."""
    flat: list[int] = []
    for k in reversed(kernel):
        flat += [(k - 1) // 2, k - 1 - (k - 1) // 2]
    return flat


class ConvLSTMCell(nn.Module):
    """One step of a convolutional LSTM over `rank`-D feature maps, channels first inside.

    With ⋆ a convolution, σ the recurrent activation and φ the activation (sigmoid and tanh by
    default), for input x_t (B, C, *S) and state h, c (B, F, *S'):

        x_i, x_f, x_c, x_o = W ⋆ x_t + b     (strides, padding, dilation as the layer's)   (B, 4F, *S')
        h_i, h_f, h_c, h_o = U ⋆ h           ("same" padding, stride 1)
        i = σ(x_i + h_i)    f = σ(x_f + h_f)    o = σ(x_o + h_o)
        c' = f ⊙ c + i ⊙ φ(x_c + h_c)
        h' = o ⊙ φ(c')

    Weights in Keras's layout and gate order i, f, c, o: kernel (*k, C, 4F), recurrent_kernel
    (*k, F, 4F), bias (4F,) (its f block starts at one with `unit_forget_bias`).
    """

    def __init__(
        self,
        rank: int,
        in_channels: int,
        filters: int,
        kernel_size: Sequence[int],
        *,
        activation: activations.ActivationLike = "tanh",
        recurrent_activation: activations.ActivationLike = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: initializers.InitializerLike = "glorot_uniform",
        recurrent_initializer: initializers.InitializerLike = "orthogonal",
        bias_initializer: initializers.InitializerLike = "zeros",
        unit_forget_bias: bool = True,
    ) -> None:
        super().__init__()
        self.rank, self.filters, self.kernel_size = rank, filters, tuple(kernel_size)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        dtype = torch.get_default_dtype()
        self.kernel = nn.Parameter(initializers.make(initializers.get(kernel_initializer),
                                                     (*self.kernel_size, in_channels, 4 * filters), dtype))
        self.recurrent_kernel = nn.Parameter(initializers.make(initializers.get(recurrent_initializer),
                                                               (*self.kernel_size, filters, 4 * filters), dtype))
        if use_bias:
            init = initializers.get(bias_initializer)
            if unit_forget_bias and not initializers.skipping():
                bias = torch.cat([initializers.make(init, (filters,), dtype), torch.ones(filters, dtype=dtype),
                                  initializers.make(init, (2 * filters,), dtype)])
            else:
                bias = initializers.make(init, (4 * filters,), dtype)
            self.bias: nn.Parameter | None = nn.Parameter(bias)
        else:
            self.register_parameter("bias", None)

    @staticmethod
    def torch_weight(kernel: torch.Tensor, rank: int) -> torch.Tensor:
        """Keras's (*k, in, out) kernel as torch's (out, in, *k)."""
        return kernel.permute(rank + 1, rank, *range(rank))

    def project_inputs(self, x: torch.Tensor, strides: Sequence[int], padded: Sequence[int],
                       dilation: Sequence[int]) -> torch.Tensor:
        """`W ⋆ x + b` for a batch of frames x (N, C, *S), given F.pad's list `padded`: (N, 4F, *S')."""
        x = F.pad(x, list(padded)) if any(padded) else x
        return _CONV[self.rank](x, self.torch_weight(self.kernel, self.rank), self.bias, tuple(strides), 0, tuple(dilation))

    def step(self, xw: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor],
             recurrent_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One step from the projected input xw (B, 4F, *S') and (h, c); `recurrent_mask` (B, F, *S')
        of kept/(1 - rate) values drops parts of h where it enters the recurrent convolution."""
        h, c = state
        h_in = h if recurrent_mask is None else h * recurrent_mask
        hu = _CONV[self.rank](F.pad(h_in, same_pads(h.shape[2:], self.kernel_size)),
                              self.torch_weight(self.recurrent_kernel, self.rank))
        x_i, x_f, x_c, x_o = xw.chunk(4, dim=1)
        h_i, h_f, h_c, h_o = hu.chunk(4, dim=1)
        i = self.recurrent_activation(x_i + h_i)
        f = self.recurrent_activation(x_f + h_f)
        o = self.recurrent_activation(x_o + h_o)
        c = f * c + i * self.activation(x_c + h_c)
        h = o * self.activation(c)
        return h, (h, c)
