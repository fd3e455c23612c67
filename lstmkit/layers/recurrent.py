"""`Recurrent`: the time loop, masks, dropout masks and state handling shared by LSTM, GRU and SimpleRNN."""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F

from .. import activations, constraints, initializers, regularizers
from .._checks import positive_int, rate
from ..cells import RecurrentCell
from ..cells._cell import State
from ..kernels import check_implementation, run_sequence
from ..kernels.reference import reference_sequence as reference_sequence  # re-exported
from .base import Layer, Shape


def dropout_mask(shape: tuple[int, ...], p: float, like: torch.Tensor) -> torch.Tensor:
    """A mask of 0 and 1 / (1 - p), drawn once and reused at every time step (variational dropout)."""
    return F.dropout(torch.ones(shape, dtype=like.dtype, device=like.device), p, training=True)


class Recurrent(Layer):
    """Base of the recurrent layers: runs a cell over a (batch, timesteps, features) sequence.

    Subclasses say which cell to build (`make_cell`) and which extra arguments it takes.
    `dropout` masks the inputs and `recurrent_dropout` the previous output where it enters the
    recurrent product; each draws one mask per sequence, shared by the time steps and gates.
    """

    def __init__(
        self,
        units: int,
        *,
        activation: activations.ActivationLike,
        use_bias: bool,
        kernel_initializer: initializers.InitializerLike,
        recurrent_initializer: initializers.InitializerLike,
        bias_initializer: initializers.InitializerLike,
        kernel_regularizer: regularizers.RegularizerLike,
        recurrent_regularizer: regularizers.RegularizerLike,
        bias_regularizer: regularizers.RegularizerLike,
        activity_regularizer: regularizers.RegularizerLike,
        kernel_constraint: constraints.ConstraintLike,
        recurrent_constraint: constraints.ConstraintLike,
        bias_constraint: constraints.ConstraintLike,
        dropout: float,
        recurrent_dropout: float,
        return_sequences: bool,
        return_state: bool,
        go_backwards: bool,
        stateful: bool,
        unroll: bool,
        zero_output_for_mask: bool,
        implementation: str | int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.implementation = check_implementation(implementation)
        self.units = positive_int("units", units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.regularizers = {
            "kernel": regularizers.get(kernel_regularizer),
            "recurrent_kernel": regularizers.get(recurrent_regularizer),
            "bias": regularizers.get(bias_regularizer),
        }
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.constraints = {
            "kernel": constraints.get(kernel_constraint),
            "recurrent_kernel": constraints.get(recurrent_constraint),
            "bias": constraints.get(bias_constraint),
        }
        self.dropout = rate("dropout", dropout)
        self.recurrent_dropout = rate("recurrent_dropout", recurrent_dropout)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # accepted for Keras compatibility; the loop is the same either way
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.cell: RecurrentCell | None = None
        self.states: list[torch.Tensor] | None = None  # kept between calls when stateful

    # ---- what subclasses provide --------------------------------------------------------------

    def make_cell(self, input_dim: int) -> RecurrentCell:
        raise NotImplementedError

    # ---- shapes --------------------------------------------------------------------------------

    def shape_from_input_dim(self, input_dim: int) -> Shape:
        return (None, input_dim)

    def check_input_shape(self, input_shape: Shape) -> None:
        if len(input_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} expects input of shape "
                f"(batch, timesteps, features), got a {len(input_shape)}-D input of shape {tuple(input_shape)}"
            )
        if input_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} layer {self.name!r} needs a known feature size, got {tuple(input_shape)}")
        if self.cell is not None and input_shape[-1] != self.cell.input_dim:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} was built for {self.cell.input_dim} features "
                f"per time step (inputs of shape {self.input_shape_built}), got input of shape {tuple(input_shape)} "
                f"with {input_shape[-1]} (axis -1)"
            )
        if input_shape[1] == 0:
            raise ValueError(f"{type(self).__name__} layer {self.name!r} needs at least one time step, got input of shape {tuple(input_shape)}")

    def build(self, input_shape: Shape) -> None:
        self.cell = self.make_cell(int(input_shape[-1]))

    def compute_output_shape(self, input_shape: Shape) -> Any:
        B, T = input_shape[0], input_shape[1]
        output = (B, T, self.units) if self.return_sequences else (B, self.units)
        if self.return_state:
            return [output] + [(B, self.units)] * self.state_count
        return output

    def compute_mask(self, x: Any, mask: torch.Tensor | None) -> Any:
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * self.state_count
        return output_mask

    @property
    def state_count(self) -> int:
        raise NotImplementedError

    def check_symbolic_call(self, input_shape: Any, argument_shapes: dict[str, Any]) -> None:
        states = argument_shapes.pop("initial_state", None)
        super().check_symbolic_call(input_shape, argument_shapes)
        if states is None:
            return
        states = [states] if isinstance(states, tuple) else list(states)
        if len(states) != self.state_count:
            raise ValueError(f"{type(self).__name__} layer {self.name!r} expects {self.state_count} initial state "
                             f"tensor(s) of shape (batch, {self.units}), got {len(states)}")
        for i, shape in enumerate(states):
            if not isinstance(shape, tuple) or len(shape) != 2 or shape[1] not in (None, self.units):
                raise ValueError(f"{type(self).__name__} layer {self.name!r}: initial_state[{i}] must have shape "
                                 f"(batch, {self.units}), got {shape}: axis -1 differs from units={self.units}")

    # ---- the forward pass ----------------------------------------------------------------------

    def call(  # type: ignore[override]
        self,
        x: torch.Tensor,
        *,
        mask: torch.Tensor | None = None,
        training: bool = False,
        initial_state: Sequence[Any] | torch.Tensor | None = None,
    ) -> Any:
        cell = self.cell
        assert cell is not None
        dtype = cell.kernel.dtype
        if x.is_complex():
            raise TypeError(f"{type(self).__name__} layer {self.name!r} takes real numbers, got x of dtype {x.dtype}")
        x = x.to(dtype)  # (B, T, D)
        B, T, D = x.shape
        mask = self._checked_mask(mask, B, T, x.device)
        state = self._start_state(B, initial_state, dtype, x.device)
        if self.go_backwards:
            x = x.flip(1)
            mask = None if mask is None else mask.flip(1)
        if training and self.dropout > 0:
            x = x * dropout_mask((B, 1, D), self.dropout, x)
        recurrent_mask = None
        if training and self.recurrent_dropout > 0:
            recurrent_mask = dropout_mask((B, self.units), self.recurrent_dropout, x)
        zoneout_masks = None
        zoneout = getattr(cell, "zoneout", 0.0)
        if training and zoneout > 0:
            # 1 where a unit keeps its previous value: per sample, unit and step, for h and for c
            # (drawn in float32 whatever the layer's dtype, so a float64 copy draws the same)
            draws = torch.rand((2, T, B, self.units), device=x.device) < zoneout
            zoneout_masks = draws.to(dtype)
        output, state = run_sequence(
            cell,
            x,
            state,
            mask=mask,
            recurrent_mask=recurrent_mask,
            return_sequences=self.return_sequences,
            zero_output_for_mask=self.zero_output_for_mask,
            zoneout_masks=zoneout_masks,
            implementation=self.implementation,
            owner=f"{type(self).__name__} layer {self.name!r}",
        )
        if self.stateful:
            self.states = [s.detach() for s in state]
        if self.activity_regularizer is not None:
            self.record_activity(output)
        if self.return_state:
            return [output, *state]
        return output

    def _checked_mask(self, mask: Any, B: int, T: int, device: torch.device) -> torch.Tensor | None:
        if mask is None:
            return None
        mask = torch.as_tensor(mask, device=device)
        if tuple(mask.shape) != (B, T):
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r}: mask must have shape (batch, timesteps) = "
                f"{(B, T)}, got {tuple(mask.shape)}"
            )
        return mask.bool()

    def _start_state(self, B: int, initial_state: Any, dtype: torch.dtype, device: torch.device) -> State:
        cell = self.cell
        assert cell is not None
        if initial_state is not None:
            if isinstance(initial_state, torch.Tensor) or not isinstance(initial_state, (list, tuple)):
                initial_state = [initial_state]
            if len(initial_state) != self.state_count:
                raise ValueError(
                    f"{type(self).__name__} layer {self.name!r} expects {self.state_count} initial state "
                    f"tensor(s) of shape {(B, self.units)}, got {len(initial_state)}"
                )
            state = tuple(torch.as_tensor(s, dtype=dtype, device=device) for s in initial_state)
            for s in state:
                if tuple(s.shape) != (B, self.units):
                    raise ValueError(
                        f"{type(self).__name__} layer {self.name!r}: each initial state must have shape "
                        f"{(B, self.units)}, got {tuple(s.shape)}"
                    )
            return state
        if self.stateful and self.states is not None:
            if self.states[0].shape[0] != B:
                raise ValueError(
                    f"Stateful layer {self.name!r} holds states for batch size {self.states[0].shape[0]}, "
                    f"got a batch of {B}: feed batches of one size, or call reset_states() first"
                )
            return tuple(s.to(dtype=dtype, device=device) for s in self.states)
        return cell.initial_state(B, dtype=dtype, device=device)

    def get_initial_state(self, inputs: Any) -> list[torch.Tensor]:
        """Keras's zero states for a batch like `inputs` (batch first): one (batch, units) tensor
        per state (two for an LSTM)."""
        x = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        batch = int(x.shape[0])
        dtype = x.dtype if isinstance(x, torch.Tensor) and x.is_floating_point() else torch.get_default_dtype()
        device = x.device if isinstance(x, torch.Tensor) else torch.device("cpu")
        return [torch.zeros(batch, self.units, dtype=dtype, device=device) for _ in range(self.state_count)]

    def reset_states(self, states: Sequence[Any] | None = None) -> None:
        """Forgets the carried states of a stateful layer (zeros next call), or sets them."""
        if not self.stateful:
            raise ValueError(f"Layer {self.name!r} is not stateful; pass stateful=True to keep states between calls")
        if states is None:
            self.states = None if self.states is None else [torch.zeros_like(s) for s in self.states]
            return
        B = torch.as_tensor(states[0]).shape[0] if len(states) else 0
        dtype = self.cell.kernel.dtype if self.cell is not None else torch.get_default_dtype()
        self.states = list(self._start_state(B, states, dtype, torch.device("cpu")))

    reset_state = reset_states  # Keras 3's name

    # ---- regularization and constraints --------------------------------------------------------

    def weight_regularizers(self) -> list[tuple[torch.Tensor, regularizers.Regularizer]]:
        if self.cell is None:
            return []
        pairs = [(getattr(self.cell, name), reg) for name, reg in self.regularizers.items() if reg is not None]
        return [(w, reg) for w, reg in pairs if w is not None]

    def weight_constraints(self) -> list[tuple[torch.Tensor, constraints.Constraint]]:
        if self.cell is None:
            return []
        pairs = [(getattr(self.cell, name), c) for name, c in self.constraints.items() if c is not None]
        return [(w, c) for w, c in pairs if w is not None]

    # ---- configuration -------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            units=self.units,
            activation=activations.serialize(self.activation),
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            recurrent_initializer=self.recurrent_initializer,
            bias_initializer=self.bias_initializer,
            kernel_regularizer=self.regularizers["kernel"],
            recurrent_regularizer=self.regularizers["recurrent_kernel"],
            bias_regularizer=self.regularizers["bias"],
            activity_regularizer=self.activity_regularizer,
            kernel_constraint=self.constraints["kernel"],
            recurrent_constraint=self.constraints["recurrent_kernel"],
            bias_constraint=self.constraints["bias"],
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            stateful=self.stateful,
            unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask,
        )
        if self.implementation is not None:
            config["implementation"] = self.implementation
        return config

    def extra_repr(self) -> str:
        flags = [f"units={self.units}"]
        for flag in ("return_sequences", "return_state", "go_backwards", "stateful"):
            if getattr(self, flag):
                flags.append(f"{flag}=True")
        return f"name={self.name!r}, " + ", ".join(flags)
