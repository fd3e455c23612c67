"""The reference LSTM cell: the specification every fast LSTM path is tested against."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .. import activations, initializers
from .._checks import positive_float, rate
from ._cell import RecurrentCell, State, masked_previous


class LSTMCell(RecurrentCell):
    """Long short-term memory (Hochreiter & Schmidhuber 1997) with a forget gate (Gers et al. 2000).

    One step, with σ the recurrent activation and φ the activation (Keras: sigmoid and tanh):

        z = x W + h U + b              (B, 4H), gate blocks in Keras's order i, f, c, o
        i = σ(z_i)   f = σ(z_f)   g = φ(z_c)   o = σ(z_o)
        c' = f ⊙ c + i ⊙ g
        h' = o ⊙ φ(c')

    The output is h'; the state is (h', c'). With `unit_forget_bias` the forget block of the
    bias starts at one (Jozefowicz et al. 2015) and the other blocks use `bias_initializer`.

    Three options that Keras and torch.nn lack, each off by default:

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
      where the layer passes the 0/1 draws d_h, d_c to `step`; without them (inference) d = p,
      the expectation.

    Extra weights come after kernel, recurrent_kernel and bias, in this order: the peepholes
    p_i, p_f, p_o (as tf.keras's PeepholeLSTMCell stores them, initialised like the kernel),
    then γ_x (4H,), γ_h (4H,), γ_c (H,) (ones) and β_c (H,) (zeros).

    >>> cell = LSTMCell(3, 5)
    >>> h, (h, c) = cell(torch.zeros(2, 3))
    >>> tuple(h.shape), tuple(c.shape), tuple(cell.kernel.shape), tuple(cell.recurrent_kernel.shape)
    ((2, 5), (2, 5), (3, 20), (5, 20))
    """

    gate_blocks = 4
    state_count = 2
    bias_blocks = 4  # bias length in units; cuDNN's layout keeps two biases (8)
    # the options' weights, present only when the option is on
    input_gate_peephole: nn.Parameter
    forget_gate_peephole: nn.Parameter
    output_gate_peephole: nn.Parameter
    input_gamma: nn.Parameter
    recurrent_gamma: nn.Parameter
    cell_gamma: nn.Parameter
    cell_beta: nn.Parameter

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
        unit_forget_bias: bool = True,
        peephole: bool = False,
        layer_norm: bool = False,
        zoneout: float = 0.0,
        layer_norm_epsilon: float = 1e-5,
    ) -> None:
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(
            input_dim,
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            bias_shape=(self.bias_blocks * units,),
        )
        self.recurrent_activation = activations.get(recurrent_activation)
        self.peephole = bool(peephole)
        self.layer_norm = bool(layer_norm)
        self.zoneout = rate("zoneout", zoneout)
        self.layer_norm_epsilon = positive_float("layer_norm_epsilon", layer_norm_epsilon)
        dtype, H = self.kernel.dtype, self.units
        if self.peephole:
            init = initializers.get(kernel_initializer)
            for gate in ("input", "forget", "output"):
                self.register_parameter(f"{gate}_gate_peephole", nn.Parameter(initializers.make(init, (H,), dtype)))
        if self.layer_norm:
            self.input_gamma = nn.Parameter(torch.ones(4 * H, dtype=dtype))
            self.recurrent_gamma = nn.Parameter(torch.ones(4 * H, dtype=dtype))
            self.cell_gamma = nn.Parameter(torch.ones(H, dtype=dtype))
            self.cell_beta = nn.Parameter(torch.zeros(H, dtype=dtype))

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """`x W + b`, or `LN(x W) γ_x + b` with layer norm: (..., input_dim) -> (..., 4H)."""
        xw = x @ self.kernel
        if self.layer_norm:
            xw = layer_norm(xw, self.input_gamma, None, self.layer_norm_epsilon)
        if self.bias is not None:
            xw = xw + self.input_bias()
        return xw

    def initial_bias(
        self, init: initializers.Initializer, shape: tuple[int, ...], dtype: torch.dtype
    ) -> torch.Tensor:
        if not self.unit_forget_bias or initializers.skipping():  # skipping: values loaded next
            return initializers.make(init, shape, dtype)
        # Ones on the forget block of the last four blocks: the only bias of a plain LSTM, the
        # recurrent half of cuDNN's pair (where Keras 2 put them).
        H, forget_start = self.units, (self.bias_blocks - 3) * self.units
        return torch.cat(
            [initializers.make(init, (forget_start,), dtype), torch.ones(H, dtype=dtype), initializers.make(init, (2 * H,), dtype)]
        )

    def step(
        self,
        xw: torch.Tensor,
        state: State,
        recurrent_mask: torch.Tensor | None = None,
        zoneout_masks: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, State]:
        """One step; `zoneout_masks` (d_h, d_c), each (B, H) of 0/1, are the training-time draws."""
        h_prev, c_prev = state  # (B, H) each
        hu = masked_previous(h_prev, recurrent_mask) @ self.recurrent_kernel  # (B, 4H)
        if self.layer_norm:
            hu = layer_norm(hu, self.recurrent_gamma, None, self.layer_norm_epsilon)
        z_i, z_f, z_c, z_o = (xw + hu).chunk(4, dim=-1)
        if self.peephole:
            z_i = z_i + self.input_gate_peephole * c_prev
            z_f = z_f + self.forget_gate_peephole * c_prev
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = f * c_prev + i * self.activation(z_c)
        if self.peephole:
            z_o = z_o + self.output_gate_peephole * c
        o = self.recurrent_activation(z_o)
        c_out = layer_norm(c, self.cell_gamma, self.cell_beta, self.layer_norm_epsilon) if self.layer_norm else c
        h = o * self.activation(c_out)
        if self.zoneout > 0:
            d_h, d_c = zoneout_masks if zoneout_masks is not None else (self.zoneout, self.zoneout)
            h = d_h * h_prev + (1 - d_h) * h
            c = d_c * c_prev + (1 - d_c) * c
        return h, (h, c)

    def extra_repr(self) -> str:
        extras = [f"{flag}=True" for flag in ("peephole", "layer_norm") if getattr(self, flag)]
        if self.zoneout:
            extras.append(f"zoneout={self.zoneout}")
        return ", ".join([super().extra_repr(), *extras])


def layer_norm(v: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor | None, eps: float) -> torch.Tensor:
    """(v - mean) / sqrt(var + eps) over the last dimension (biased variance), times gamma, plus beta."""
    centred = v - v.mean(-1, keepdim=True)
    normalised = centred * torch.rsqrt((centred * centred).mean(-1, keepdim=True) + eps)
    return normalised * gamma if beta is None else normalised * gamma + beta


class CuDNNLSTMCell(LSTMCell):
    """An LSTM cell with cuDNN's weight layout, as Keras 2's `CuDNNLSTM` stored it.

    cuDNN keeps two biases, one added to the input term and one to the recurrent term, so the
    bias has shape (8H,): `[b_input (4H), b_recurrent (4H)]`. The step is the LSTM's with
    b = b_input + b_recurrent, tanh and sigmoid. With `unit_forget_bias` the ones sit in the
    forget block of the recurrent half, where Keras 2 put them.
    """

    bias_blocks = 8

    def __init__(
        self,
        input_dim: int,
        units: int,
        *,
        kernel_initializer: initializers.InitializerLike = "glorot_uniform",
        recurrent_initializer: initializers.InitializerLike = "orthogonal",
        bias_initializer: initializers.InitializerLike = "zeros",
        unit_forget_bias: bool = True,
        **options: Any,
    ) -> None:
        """`options`: LSTMCell's peephole, layer_norm, zoneout and layer_norm_epsilon."""
        super().__init__(
            input_dim,
            units,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias,
            **options,
        )

    def input_bias(self) -> torch.Tensor:
        assert self.bias is not None
        b_input, b_recurrent = self.bias.chunk(2)
        return b_input + b_recurrent
