"""The reference LSTM cell: the specification every fast LSTM path is tested against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .. import activations, initializers
from .._checks import one_of, positive_float, rate
from ._cell import CellSettings, RecurrentCell, State, activation_field, forget_bias, input_product, masked_previous, own


@dataclass(frozen=True)
class LSTMSettings(CellSettings):
    """An LSTM cell's options: Keras's (units to unit_forget_bias) and lstmkit's own (the rest,
    each off by default; see `LSTMCell`)."""

    recurrent_activation: activations.Activation = activation_field("sigmoid")
    unit_forget_bias: bool = True
    peephole: bool = own(False)
    layer_norm: bool = own(False)
    layer_norm_epsilon: float = own(1e-5)
    zoneout: float = own(0.0)
    cell_clip: float | None = own(None)
    bias_layout: str = own("keras")  # "keras": one bias (4H,); "cudnn": two, added (8H,)

    def normalised(self) -> dict[str, Any]:
        return dict(
            super().normalised(),
            recurrent_activation=activations.get(self.recurrent_activation),
            unit_forget_bias=bool(self.unit_forget_bias),
            peephole=bool(self.peephole),
            layer_norm=bool(self.layer_norm),
            layer_norm_epsilon=positive_float("layer_norm_epsilon", self.layer_norm_epsilon),
            zoneout=rate("zoneout", self.zoneout),
            cell_clip=None if self.cell_clip is None else positive_float("cell_clip", self.cell_clip),
            bias_layout=one_of("bias_layout", self.bias_layout, ("keras", "cudnn")),
        )


class LSTMCell(RecurrentCell):
    """Long short-term memory (Hochreiter & Schmidhuber 1997) with a forget gate (Gers et al. 2000).

    One step, with σ the recurrent activation and φ the activation (Keras: sigmoid and tanh):

        z = x W + h U + b              (B, 4H), gate blocks in Keras's order i, f, c, o
        i = σ(z_i)   f = σ(z_f)   g = φ(z_c)   o = σ(z_o)
        c' = f ⊙ c + i ⊙ g
        h' = o ⊙ φ(c')

    The output is h'; the state is (h', c'). With `unit_forget_bias` the forget block of the
    bias starts at one (Jozefowicz et al. 2015) and the other blocks use `bias_initializer`.

    Options that Keras and torch.nn lack, each off by default:

    - `peephole=True` (Gers, Schraudolph & Schmidhuber 2002): the gates also see the cell,
      through per-unit weights p_i, p_f, p_o (H,) each:
          i = σ(z_i + p_i ⊙ c)   f = σ(z_f + p_f ⊙ c)   o = σ(z_o + p_o ⊙ c')
    - `layer_norm=True` (Ba, Kiros & Hinton 2016): the input and recurrent terms are normalised
      separately over their 4H values, and the cell before its φ, with LN(v) = (v - mean(v)) /
      sqrt(var(v) + ε):
          z = LN(x W) ⊙ γ_x + LN(h U) ⊙ γ_h + b
          h' = o ⊙ φ(LN(c') ⊙ γ_c + β_c)
      The paper's shift of each gate normalisation is b itself (two more shifts would add
      nothing), so with `use_bias=False` the gates have none. c' is carried unnormalised.
    - `zoneout=p` (Krueger et al. 2016): each unit of h and of c keeps its previous value with
      probability p, drawn per sample, unit and step at training time:
          h_new = d_h ⊙ h + (1 - d_h) ⊙ h'    c_new = d_c ⊙ c + (1 - d_c) ⊙ c'
      where `draw_noise` makes the 0/1 draws d_h, d_c at training time and the runner passes
      each step's to `step`; without them (inference) d = p, the expectation.
    - `cell_clip=v` (as TensorFlow 1's LSTMCell and cuDNN's clipping): the new cell is clipped
      to [-v, v] before anything reads it, c' = clip(f ⊙ c + i ⊙ g, -v, v).

    With `bias_layout="cudnn"` (Keras 2's `CuDNNLSTM`) the bias is cuDNN's pair (8H,):
    `[b_input (4H), b_recurrent (4H)]`, added; with `unit_forget_bias` the ones sit in the
    forget block of the recurrent half, where Keras 2 put them.

    Extra weights come after kernel, recurrent_kernel and bias, in this order: the peepholes
    p_i, p_f, p_o (as tf.keras's PeepholeLSTMCell stores them, initialised like the kernel),
    then γ_x (4H,), γ_h (4H,), γ_c (H,) (ones) and β_c (H,) (zeros).

    >>> cell = LSTMCell(3, 5)
    >>> h, (h, c) = cell(torch.zeros(2, 3))
    >>> tuple(h.shape), tuple(c.shape), tuple(cell.kernel.shape), tuple(cell.recurrent_kernel.shape)
    ((2, 5), (2, 5), (3, 20), (5, 20))
    """

    settings_class = LSTMSettings
    settings: LSTMSettings
    gate_blocks = 4
    state_count = 2
    kernel_name = "lstm"
    # the options' weights, present only when the option is on
    input_gate_peephole: nn.Parameter
    forget_gate_peephole: nn.Parameter
    output_gate_peephole: nn.Parameter
    input_gamma: nn.Parameter
    recurrent_gamma: nn.Parameter
    cell_gamma: nn.Parameter
    cell_beta: nn.Parameter

    def __init__(self, input_dim: int, settings: LSTMSettings | int, **options: Any) -> None:
        super().__init__(input_dim, settings, **options)
        s = self.settings
        dtype, H = self.kernel.dtype, s.units
        if s.peephole:
            init = initializers.get(s.kernel_initializer)
            for gate in ("input", "forget", "output"):
                self.register_parameter(f"{gate}_gate_peephole", nn.Parameter(initializers.make(init, (H,), dtype)))
        if s.layer_norm:
            self.input_gamma = nn.Parameter(torch.ones(4 * H, dtype=dtype))
            self.recurrent_gamma = nn.Parameter(torch.ones(4 * H, dtype=dtype))
            self.cell_gamma = nn.Parameter(torch.ones(H, dtype=dtype))
            self.cell_beta = nn.Parameter(torch.zeros(H, dtype=dtype))

    def bias_shape(self) -> tuple[int, ...]:
        return ((8 if self.settings.bias_layout == "cudnn" else 4) * self.settings.units,)

    def initial_bias(self, init: initializers.Initializer, dtype: torch.dtype) -> torch.Tensor:
        (length,) = self.bias_shape()
        if not self.settings.unit_forget_bias or initializers.skipping():  # skipping: values loaded next
            return initializers.make(init, (length,), dtype)
        return forget_bias(init, self.settings.units, length, dtype)

    def input_bias(self) -> torch.Tensor:
        bias = super().input_bias()
        if self.settings.bias_layout == "cudnn":
            b_input, b_recurrent = bias.chunk(2)
            return b_input + b_recurrent
        return bias

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """`x W + b`, or `LN(x W) γ_x + b` with layer norm: (..., input_dim) -> (..., 4H)."""
        xw = input_product(x, self.kernel)
        if self.settings.layer_norm:
            xw = layer_norm(xw, self.input_gamma, None, self.settings.layer_norm_epsilon)
        if self.bias is not None:
            xw = xw + self.input_bias()
        return xw

    def draw_noise(self, steps: int, batch_size: int, like: torch.Tensor) -> torch.Tensor | None:
        """Zoneout's draws (steps, 2, B, H): 1 where a unit of h (index 0) or c (1) keeps its
        previous value, per sample, unit and step; None without zoneout."""
        p = self.settings.zoneout
        if p == 0:
            return None
        # drawn in float32 whatever the layer's dtype, so that a float64 copy draws the same
        draws = torch.rand((2, steps, batch_size, self.settings.units), device=like.device) < p
        return draws.to(like.dtype).transpose(0, 1).contiguous()

    def step(
        self,
        xw: torch.Tensor,
        state: State,
        recurrent_mask: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        """One step; `noise` (2, B, H), the step's zoneout draws d_h, d_c of 0/1 when training."""
        s = self.settings
        h_prev, c_prev = state  # (B, H) each
        hu = masked_previous(h_prev, recurrent_mask) @ self.recurrent_kernel  # (B, 4H)
        if s.layer_norm:
            hu = layer_norm(hu, self.recurrent_gamma, None, s.layer_norm_epsilon)
        z_i, z_f, z_c, z_o = (xw + hu).chunk(4, dim=-1)
        if s.peephole:
            z_i = z_i + self.input_gate_peephole * c_prev
            z_f = z_f + self.forget_gate_peephole * c_prev
        i = s.recurrent_activation(z_i)
        f = s.recurrent_activation(z_f)
        c = f * c_prev + i * s.activation(z_c)
        if s.cell_clip is not None:
            c = c.clamp(-s.cell_clip, s.cell_clip)
        if s.peephole:
            z_o = z_o + self.output_gate_peephole * c
        o = s.recurrent_activation(z_o)
        c_out = layer_norm(c, self.cell_gamma, self.cell_beta, s.layer_norm_epsilon) if s.layer_norm else c
        h = o * s.activation(c_out)
        if s.zoneout > 0:
            d_h, d_c = (noise[0], noise[1]) if noise is not None else (s.zoneout, s.zoneout)
            h = d_h * h_prev + (1 - d_h) * h
            c = d_c * c_prev + (1 - d_c) * c
        return h, (h, c)

    def kernel_tensors(self, noise: torch.Tensor | None) -> dict[str, torch.Tensor | None]:
        s = self.settings
        tensors: dict[str, torch.Tensor | None] = {"zone": noise}
        if s.peephole:
            tensors["peep"] = torch.stack([self.input_gate_peephole, self.forget_gate_peephole, self.output_gate_peephole])
        if s.layer_norm:
            tensors.update(gx=self.input_gamma, gh=self.recurrent_gamma, gc=self.cell_gamma, bc=self.cell_beta)
        return tensors

    def kernel_options(self) -> dict[str, Any]:
        s = self.settings
        return dict(act=s.activation, ract=s.recurrent_activation, peephole=s.peephole, layer_norm=s.layer_norm,
                    clip=s.cell_clip is not None, eps=s.layer_norm_epsilon, zoneout=s.zoneout,
                    cell_clip=s.cell_clip or 0.0)

    def extra_repr(self) -> str:
        s = self.settings
        extras = [f"{flag}=True" for flag in ("peephole", "layer_norm") if getattr(s, flag)]
        for name in ("zoneout", "cell_clip"):
            if getattr(s, name):
                extras.append(f"{name}={getattr(s, name)}")
        return ", ".join([super().extra_repr(), *extras])


def layer_norm(v: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor | None, eps: float) -> torch.Tensor:
    """(v - mean) / sqrt(var + eps) over the last dimension (biased variance), times gamma, plus beta."""
    centred = v - v.mean(-1, keepdim=True)
    normalised = centred * torch.rsqrt((centred * centred).mean(-1, keepdim=True) + eps)
    return normalised * gamma if beta is None else normalised * gamma + beta
