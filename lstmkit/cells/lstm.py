"""The reference LSTM cell: the specification every fast LSTM path is tested against."""

from __future__ import annotations

import torch

from .. import activations, initializers
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

    >>> cell = LSTMCell(3, 5)
    >>> h, (h, c) = cell(torch.zeros(2, 3))
    >>> tuple(h.shape), tuple(c.shape), tuple(cell.kernel.shape), tuple(cell.recurrent_kernel.shape)
    ((2, 5), (2, 5), (3, 20), (5, 20))
    """

    gate_blocks = 4
    state_count = 2
    bias_blocks = 4  # bias length in units; cuDNN's layout keeps two biases (8)

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

    def initial_bias(
        self, init: initializers.Initializer, shape: tuple[int, ...], dtype: torch.dtype
    ) -> torch.Tensor:
        if not self.unit_forget_bias:
            return initializers.make(init, shape, dtype)
        # Ones on the forget block of the last four blocks: the only bias of a plain LSTM, the
        # recurrent half of cuDNN's pair (where Keras 2 put them).
        H, forget_start = self.units, (self.bias_blocks - 3) * self.units
        return torch.cat(
            [initializers.make(init, (forget_start,), dtype), torch.ones(H, dtype=dtype), initializers.make(init, (2 * H,), dtype)]
        )

    def step(
        self, xw: torch.Tensor, state: State, recurrent_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        h, c = state  # (B, H) each
        z = xw + masked_previous(h, recurrent_mask) @ self.recurrent_kernel  # (B, 4H)
        z_i, z_f, z_c, z_o = z.chunk(4, dim=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        o = self.recurrent_activation(z_o)
        c = f * c + i * self.activation(z_c)
        h = o * self.activation(c)
        return h, (h, c)


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
    ) -> None:
        super().__init__(
            input_dim,
            units,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias,
        )

    def input_bias(self) -> torch.Tensor:
        assert self.bias is not None
        b_input, b_recurrent = self.bias.chunk(2)
        return b_input + b_recurrent
