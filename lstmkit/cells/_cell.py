"""What the LSTM, GRU and SimpleRNN cells share: Keras-layout weights and the step contract."""

from __future__ import annotations

import torch
from torch import nn

from .. import activations, initializers
from .._checks import positive_int

State = tuple[torch.Tensor, ...]


class RecurrentCell(nn.Module):
    """A cell maps one time step's input and the previous state to an output and the next state.

    Weights are stored in Keras's layout so that `get_weights()` needs no transposes:
    `kernel` (input_dim, G*units), `recurrent_kernel` (units, G*units) and `bias`, G being the
    number of gate blocks. The work is split in two so a layer can run the input half for all
    time steps in one matrix product:

    - `project_inputs(x)`: the input term `x W (+ b)`, for any number of leading dimensions;
    - `step(xw_t, state, recurrent_mask)`: everything that depends on the previous state.

    `cell(x_t, state)` does both for a single step, like `torch.nn.LSTMCell`.
    """

    gate_blocks: int  # G: 4 for an LSTM, 3 for a GRU, 1 for a SimpleRNN
    state_count: int  # tensors in the state: (h, c) for an LSTM, (h,) otherwise

    def __init__(
        self,
        input_dim: int,
        units: int,
        *,
        activation: activations.ActivationLike,
        use_bias: bool,
        kernel_initializer: initializers.InitializerLike,
        recurrent_initializer: initializers.InitializerLike,
        bias_initializer: initializers.InitializerLike,
        bias_shape: tuple[int, ...],
    ) -> None:
        super().__init__()
        self.input_dim = positive_int("input_dim", input_dim)
        self.units = positive_int("units", units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        dtype = torch.get_default_dtype()
        width = self.gate_blocks * self.units
        self.kernel = nn.Parameter(
            initializers.make(initializers.get(kernel_initializer), (self.input_dim, width), dtype)
        )
        self.recurrent_kernel = nn.Parameter(
            initializers.make(initializers.get(recurrent_initializer), (self.units, width), dtype)
        )
        if self.use_bias:
            self.bias = nn.Parameter(self.initial_bias(initializers.get(bias_initializer), bias_shape, dtype))
        else:
            self.register_parameter("bias", None)

    def initial_bias(
        self, init: initializers.Initializer, shape: tuple[int, ...], dtype: torch.dtype
    ) -> torch.Tensor:
        return initializers.make(init, shape, dtype)

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """`x W + b`: (..., input_dim) -> (..., G*units)."""
        xw = x @ self.kernel
        if self.bias is not None:
            xw = xw + self.input_bias()
        return xw

    def input_bias(self) -> torch.Tensor:
        assert self.bias is not None
        return self.bias

    def initial_state(self, batch_size: int, *, dtype: torch.dtype, device: torch.device) -> State:
        """Zero state: `state_count` tensors of shape (batch_size, units)."""
        return tuple(
            torch.zeros(batch_size, self.units, dtype=dtype, device=device) for _ in range(self.state_count)
        )

    def step(
        self, xw: torch.Tensor, state: State, recurrent_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        """One time step from the projected input xw (B, G*units): returns (output, next state).

        `recurrent_mask` (B, units), when given, multiplies the previous output where it enters
        the recurrent product (recurrent dropout); it does not touch the carried state itself.
        """
        raise NotImplementedError

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """One step from a raw input x (B, input_dim)."""
        if state is None:
            state = self.initial_state(x.shape[0], dtype=x.dtype, device=x.device)
        return self.step(self.project_inputs(x), tuple(state))

    def extra_repr(self) -> str:
        return f"input_dim={self.input_dim}, units={self.units}, use_bias={self.use_bias}"


def masked_previous(h: torch.Tensor, recurrent_mask: torch.Tensor | None) -> torch.Tensor:
    """The previous output as it enters the recurrent product: dropped out when a mask is given."""
    return h if recurrent_mask is None else h * recurrent_mask
