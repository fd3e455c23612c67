"""The reference convolutional LSTM cell (Shi et al. 2015, "Convolutional LSTM Network"), as
Keras's `ConvLSTM2D` computes it: no peepholes, the gates' products are convolutions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import _spatial as sp
from .. import activations, initializers
from .._checks import positive_int
from ._cell import Settings, State, activation_field, forget_bias, given

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """x (N, C, *S) stored channels last, as oneDNN's convolutions run fastest (2D and 3D)."""
    if x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    if x.dim() == 5:
        return x.contiguous(memory_format=torch.channels_last_3d)
    return x


def same_pads(kernel: Sequence[int]) -> list[int]:
    """F.pad's list for "same" padding at stride 1: (k - 1) zeros per axis, the odd one after."""
    flat: list[int] = []
    for k in reversed(kernel):
        flat += [(k - 1) // 2, k - 1 - (k - 1) // 2]
    return flat


@dataclass(frozen=True)
class ConvLSTMSettings(Settings):
    """A convolutional LSTM cell's options, Keras's names and defaults; kernel_size, strides and
    dilation_rate take an int or one per spatial axis."""

    filters: int
    kernel_size: tuple[int, ...]
    rank: int = 2
    strides: tuple[int, ...] = given(1)
    padding: str = "valid"
    dilation_rate: tuple[int, ...] = given(1)
    activation: activations.Activation = activation_field("tanh")
    recurrent_activation: activations.Activation = activation_field("sigmoid")
    use_bias: bool = True
    kernel_initializer: initializers.Initializer = given("glorot_uniform")
    recurrent_initializer: initializers.Initializer = given("orthogonal")
    bias_initializer: initializers.Initializer = given("zeros")
    unit_forget_bias: bool = True

    def normalised(self) -> dict[str, Any]:
        return dict(
            filters=positive_int("filters", self.filters),
            kernel_size=sp.per_axis("kernel_size", self.kernel_size, self.rank),
            strides=sp.per_axis("strides", self.strides, self.rank),
            padding=sp.padding_mode(self.padding),
            dilation_rate=sp.per_axis("dilation_rate", self.dilation_rate, self.rank),
            activation=activations.get(self.activation),
            recurrent_activation=activations.get(self.recurrent_activation),
            use_bias=bool(self.use_bias),
            kernel_initializer=initializers.get(self.kernel_initializer),
            recurrent_initializer=initializers.get(self.recurrent_initializer),
            bias_initializer=initializers.get(self.bias_initializer),
            unit_forget_bias=bool(self.unit_forget_bias),
        )


class ConvLSTMCell(nn.Module):
    """One step of a convolutional LSTM over `rank`-D feature maps, channels last (Keras's
    default layout, and oneDNN's fast one for these convolutions).

    With ⋆ a convolution, σ the recurrent activation and φ the activation (sigmoid and tanh by
    default), for input x_t (B, *S, C) and state h, c (B, *S', F):

        x_i, x_f, x_c, x_o = W ⋆ x_t + b     (strides, padding, dilation as the settings')   (B, *S', 4F)
        h_i, h_f, h_c, h_o = U ⋆ h           ("same" padding, stride 1)
        i = σ(x_i + h_i)    f = σ(x_f + h_f)    o = σ(x_o + h_o)
        c' = f ⊙ c + i ⊙ φ(x_c + h_c)
        h' = o ⊙ φ(c')

    Weights in Keras's layout and gate order i, f, c, o: kernel (*k, C, 4F), recurrent_kernel
    (*k, F, 4F), bias (4F,) (its f block starts at one with `unit_forget_bias`). The sequence
    runner drives it like the other cells; the fused kernels compute it (csrc/conv_lstm.h,
    gpu/conv_lstm.py) from the padded frames, both convolutions and their gradients included.
    """

    settings_class: ClassVar[type[ConvLSTMSettings]] = ConvLSTMSettings
    kernel_name: ClassVar[str | None] = "conv_lstm"
    gate_blocks: ClassVar[int] = 4
    state_count: ClassVar[int] = 2

    def __init__(self, in_channels: int, settings: ConvLSTMSettings) -> None:
        super().__init__()
        self.settings = settings
        s = settings
        F_, k = s.filters, s.kernel_size
        dtype = torch.get_default_dtype()
        self.kernel = nn.Parameter(initializers.make(initializers.get(s.kernel_initializer), (*k, in_channels, 4 * F_), dtype))
        self.recurrent_kernel = nn.Parameter(initializers.make(initializers.get(s.recurrent_initializer),
                                                               (*k, F_, 4 * F_), dtype))
        if s.use_bias:
            init = initializers.get(s.bias_initializer)
            if s.unit_forget_bias and not initializers.skipping():
                bias = forget_bias(init, F_, 4 * F_, dtype)
            else:
                bias = initializers.make(init, (4 * F_,), dtype)
            self.bias: nn.Parameter | None = nn.Parameter(bias)
        else:
            self.register_parameter("bias", None)

    @staticmethod
    def torch_weight(kernel: torch.Tensor, rank: int) -> torch.Tensor:
        """Keras's (*k, in, out) kernel as torch's (out, in, *k)."""
        return kernel.permute(rank + 1, rank, *range(rank))

    def recurrent_conv(self, h: torch.Tensor) -> torch.Tensor:
        """`U ⋆ h`, "same" padding and stride 1: (B, *S, F) -> (B, *S, 4F)."""
        s = self.settings
        u = self.torch_weight(self.recurrent_kernel, s.rank)
        h = _channels_last(h.movedim(-1, 1))
        if all(k % 2 for k in s.kernel_size):
            hu = _CONV[s.rank](h, u, padding=[k // 2 for k in s.kernel_size])
        else:  # an even size pads one more zero after than before
            hu = _CONV[s.rank](_channels_last(F.pad(h, same_pads(s.kernel_size))), u)
        return hu.movedim(1, -1)

    def state_spatial(self, spatial: Sequence[int]) -> list[int]:
        """The state's spatial size for input frames of size `spatial`."""
        s = self.settings
        return [int(sp.output_size(n, k, st, d, s.padding) or 0)
                for n, k, st, d in zip(spatial, s.kernel_size, s.strides, s.dilation_rate)]

    def padded_frames(self, x: torch.Tensor) -> torch.Tensor:
        """Every frame of x (B, T, *S, C) (or T first: any two leading axes) with the zeros the
        input convolution's padding adds: (B·T, C, *S_padded), channels last."""
        s = self.settings
        B, T = x.shape[:2]
        frames = _channels_last(x.reshape(B * T, *x.shape[2:]).movedim(-1, 1))  # (B·T, C, *S) view
        padded = [p for n, k, st, d in reversed(list(zip(frames.shape[2:], s.kernel_size, s.strides, s.dilation_rate)))
                  for p in sp.pads(n, k, st, d, s.padding)]
        return _channels_last(F.pad(frames, padded)) if any(padded) else frames

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """`W ⋆ x + b` for every frame: (B, T, *S, C) -> (B, T, *S', 4F) (or T first: any two
        leading axes)."""
        s = self.settings
        B, T = x.shape[:2]
        xw = _CONV[s.rank](self.padded_frames(x), self.torch_weight(self.kernel, s.rank), self.bias, s.strides, 0,
                           s.dilation_rate)
        return xw.movedim(1, -1).contiguous().reshape(B, T, *xw.shape[2:], xw.shape[1])

    def draw_noise(self, steps: int, batch_size: int, like: torch.Tensor) -> torch.Tensor | None:
        """None: the cell draws no noise of its own."""
        return None

    def loop_tensors(self, x: torch.Tensor) -> dict[str, torch.Tensor | None]:
        """The fused kernels' x, the padded frames (T, B, *S_padded, C) channels last, from the
        time-major frames x (T, B, *S, C); W, b and U in torch's layout, (4F, C, *k), (4F,) and
        (4F, F, *k). The kernels run the input convolution (unpadded, the settings' strides and
        dilation) and its backward."""
        s = self.settings
        T, B = x.shape[:2]
        frames = self.padded_frames(x).movedim(1, -1).contiguous()  # (T·B, *S_padded, C)
        return {"x": frames.view(T, B, *frames.shape[1:]), "W": self.torch_weight(self.kernel, s.rank).contiguous(),
                "b": self.bias, "U": self.torch_weight(self.recurrent_kernel, s.rank).contiguous()}

    def kernel_tensors(self, noise: torch.Tensor | None) -> dict[str, torch.Tensor | None]:
        """None beyond the loop's."""
        return {}

    def kernel_options(self) -> dict[str, Any]:
        """The two activations, and the input convolution's strides and dilation (stride0..2,
        dilation0..2: one per spatial axis, ones beyond the cell's rank)."""
        s = self.settings
        options: dict[str, Any] = {"act": s.activation, "ract": s.recurrent_activation}
        for d in range(3):
            options[f"stride{d}"] = s.strides[d] if d < s.rank else 1
            options[f"dilation{d}"] = s.dilation_rate[d] if d < s.rank else 1
        return options

    def kernel_refusal(self) -> str | None:
        """The kernels pad the recurrent convolution evenly: an even kernel size is not theirs."""
        if any(k % 2 == 0 for k in self.settings.kernel_size):
            return f"kernel_size {self.settings.kernel_size} has an even size, which the fused kernels do not pad"
        return None

    def step(self, xw: torch.Tensor, state: State, recurrent_mask: torch.Tensor | None = None,
             noise: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        """One step from the projected input xw (B, *S', 4F) and (h, c) (B, *S', F);
        `recurrent_mask` (B, *S', F) of kept/(1 - rate) values drops parts of h where it enters
        the recurrent convolution."""
        s = self.settings
        h, c = state
        h_in = h if recurrent_mask is None else h * recurrent_mask
        hu = self.recurrent_conv(h_in)
        x_i, x_f, x_c, x_o = xw.chunk(4, dim=-1)
        h_i, h_f, h_c, h_o = hu.chunk(4, dim=-1)
        i = s.recurrent_activation(x_i + h_i)
        f = s.recurrent_activation(x_f + h_f)
        o = s.recurrent_activation(x_o + h_o)
        c = f * c + i * s.activation(x_c + h_c)
        h = o * s.activation(c)
        return h, (h, c)
