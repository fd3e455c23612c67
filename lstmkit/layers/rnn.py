"""Keras's `RNN(cell)`: a recurrent layer from a cell.

With Keras's own cells, `RNN(LSTMCell(64), return_sequences=True)` is exactly
`LSTM(64, return_sequences=True)` (and `GRUCell` a `GRU`, `SimpleRNNCell` a `SimpleRNN`): the
constructor returns that layer, so it runs the fused kernels and has Keras's weights.

With a cell of the program's own — a layer with `state_size` (an int or a list of ints) whose
`call(inputs, states)` returns `(output, new_states)`, as Keras's documentation writes
`MinimalRNNCell` — `RNN` runs it step by step through the sequence runner of every recurrent
layer, on the reference loop: masked steps keep the states, `go_backwards` reads the steps from
the end, and `return_sequences` / `return_state` are Keras's.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Sequence

import torch

from ..cells._cell import State
from ..kernels import SequenceSettings, run_sequence
from .base import Layer, Shape
from .gru import GRU
from .lstm import LSTM
from .registry import deserialize
from .simple_rnn import SimpleRNN


class _CellLayer(Layer):
    """A Keras cell layer: the arguments of one step, made into a whole layer by `RNN`."""

    layer_class: type = LSTM

    def __init__(self, units: int, **arguments: Any) -> None:
        names = {k: arguments.pop(k) for k in ("name", "trainable") if k in arguments}
        super().__init__(**names)
        arguments.pop("seed", None)
        self.units, self.arguments = units, arguments
        self.layer_class(units, **arguments)  # checks the arguments now, as the cell's constructor would

    def recurrent_layer(self, **layer_arguments: Any) -> Layer:
        layer: Layer = self.layer_class(self.units, **self.arguments, **layer_arguments)
        return layer

    def call(self, x: Any, *, mask: Any = None, training: bool = False, **kwargs: Any) -> Any:
        raise TypeError(f"{type(self).__name__} is one step of a recurrent layer: use it as RNN({type(self).__name__}(...)), "
                        f"or use {self.layer_class.__name__} directly")


class LSTMCell(_CellLayer):
    """Keras's `LSTMCell(units, ...)` (LSTM's arguments); `RNN(LSTMCell(u))` is `LSTM(u)`."""

    layer_class = LSTM


class GRUCell(_CellLayer):
    """Keras's `GRUCell(units, ...)` (GRU's arguments); `RNN(GRUCell(u))` is `GRU(u)`."""

    layer_class = GRU


class SimpleRNNCell(_CellLayer):
    """Keras's `SimpleRNNCell(units, ...)`; `RNN(SimpleRNNCell(u))` is `SimpleRNN(u)`."""

    layer_class = SimpleRNN


class _ProgramCell:
    """A program's own cell as the sequence runner sees it: its inputs unprojected, one step its
    `call(inputs, states)`, no noise of its own and no fused kernels."""

    kernel_name: ClassVar[str | None] = None

    def __init__(self, call: Callable[..., Any], extra: dict[str, Any]) -> None:
        self.call, self.extra = call, extra

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def draw_noise(self, steps: int, batch_size: int, like: torch.Tensor) -> torch.Tensor | None:
        return None

    def step(self, x: torch.Tensor, state: State, recurrent_mask: torch.Tensor | None = None,
             noise: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        output, new_states = self.call(x, list(state), **self.extra)
        return output, tuple(new_states) if isinstance(new_states, (list, tuple)) else (new_states,)


class RNN(Layer):
    """A recurrent layer from a cell (see the module docstring).

    Args:
        cell: `LSTMCell`, `GRUCell`, `SimpleRNNCell`, or a cell layer of the program's own.
        return_sequences, return_state, go_backwards: As for `LSTM`.
        stateful, unroll: `stateful` works with Keras's cells (it is the layer's); `unroll` is
            accepted and changes nothing.
    """

    def __new__(cls, cell: Any = None, *args: Any, **kwargs: Any) -> Any:
        if isinstance(cell, _CellLayer):
            kwargs.pop("unroll", None)
            return cell.recurrent_layer(**kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        cell: Layer,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(cell, (list, tuple)):
            raise ValueError("RNN takes one cell; for a stack of cells, stack RNN layers (or LSTM layers) instead")
        if not isinstance(cell, Layer) or not hasattr(cell, "state_size"):
            raise ValueError(f"RNN needs a cell: LSTMCell, GRUCell, SimpleRNNCell or a layer with state_size and "
                             f"call(inputs, states); got {type(cell).__name__}")
        if stateful:
            raise ValueError("RNN(stateful=True) is supported with Keras's cells (LSTMCell, GRUCell, SimpleRNNCell), "
                             "not with a cell of your own")
        self.cell = cell
        self.return_sequences, self.return_state, self.go_backwards = bool(return_sequences), bool(return_state), \
            bool(go_backwards)

    @property
    def state_sizes(self) -> list[int]:
        """The size of each of the cell's states."""
        size: Any = getattr(self.cell, "state_size")  # a cell of the program's own says it
        return [int(s) for s in size] if isinstance(size, (list, tuple)) else [int(size)]

    @property
    def output_size(self) -> int:
        """The size of the cell's output (its first state's, unless it says otherwise)."""
        size: Any = getattr(self.cell, "output_size", self.state_sizes[0])
        return int(size)

    def check_input_shape(self, input_shape: Shape) -> None:
        if len(input_shape) != 3:
            raise ValueError(f"RNN layer {self.name!r} expects input of shape (batch, timesteps, features), got "
                             f"{tuple(input_shape)}")

    def build(self, input_shape: Shape) -> None:
        self.cell.ensure_built((input_shape[0], input_shape[-1]))

    def compute_output_shape(self, input_shape: Shape) -> Any:
        B, T = input_shape[0], input_shape[1]
        output = (B, T, self.output_size) if self.return_sequences else (B, self.output_size)
        return [output, *[(B, s) for s in self.state_sizes]] if self.return_state else output

    def compute_mask(self, x: Any, mask: Any) -> Any:
        output_mask = mask if self.return_sequences else None
        return [output_mask] + [None] * len(self.state_sizes) if self.return_state else output_mask

    def call(self, x: torch.Tensor, *, mask: torch.Tensor | None = None, training: bool = False,
             initial_state: Sequence[Any] | None = None, **kwargs: Any) -> Any:
        x = x.to(self._placement.dtype)
        B, T = x.shape[:2]
        states = tuple(torch.as_tensor(s, dtype=x.dtype) for s in initial_state) if initial_state is not None else \
            tuple(x.new_zeros((B, s)) for s in self.state_sizes)
        cell = _ProgramCell(self.cell.call, self.cell._call_arguments({"training": training}))
        settings = SequenceSettings(return_sequences=self.return_sequences, go_backwards=self.go_backwards)
        result, states = run_sequence(cell, x, states, settings, mask=None if mask is None else torch.as_tensor(mask).bool(),
                                      training=training, owner=f"RNN layer {self.name!r}")
        return [result, *states] if self.return_state else result

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        """The layer again from `get_config()`'s dictionary, its cell rebuilt first."""
        config = dict(config)
        config["cell"] = deserialize(config["cell"])
        return cls(**config)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(cell={"class_name": type(self.cell).__name__, "config": self.cell.get_config()},
                      return_sequences=self.return_sequences, return_state=self.return_state,
                      go_backwards=self.go_backwards)
        return config
