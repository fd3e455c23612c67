"""`Recurrent`: what LSTM, GRU and SimpleRNN share: settings, states, shapes and the call into the
sequence runner."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import torch

from .. import constraints, mixed_precision, regularizers
from ..cells import CellSettings, RecurrentCell, Settings
from ..cells._cell import State
from ..kernels import SequenceSettings, run_sequence
from .base import Layer, Shape


@dataclass(frozen=True)
class WeightPenalties(Settings):
    """A layer's regularizers (collected in `layer.losses`) and constraints (applied by
    `apply_constraints()`) of its kernel, recurrent kernel and bias, and its activity regularizer."""

    kernel_regularizer: regularizers.Regularizer | None = None
    recurrent_regularizer: regularizers.Regularizer | None = None
    bias_regularizer: regularizers.Regularizer | None = None
    activity_regularizer: regularizers.Regularizer | None = None
    kernel_constraint: constraints.Constraint | None = None
    recurrent_constraint: constraints.Constraint | None = None
    bias_constraint: constraints.Constraint | None = None

    def normalised(self) -> dict[str, Any]:
        return dict(
            kernel_regularizer=regularizers.get(self.kernel_regularizer),
            recurrent_regularizer=regularizers.get(self.recurrent_regularizer),
            bias_regularizer=regularizers.get(self.bias_regularizer),
            activity_regularizer=regularizers.get(self.activity_regularizer),
            kernel_constraint=constraints.get(self.kernel_constraint),
            recurrent_constraint=constraints.get(self.recurrent_constraint),
            bias_constraint=constraints.get(self.bias_constraint),
        )

    def on(self, cell: Any, kind: str) -> list[tuple[torch.Tensor, Any]]:
        """(weight, penalty) pairs of one kind ("regularizer" or "constraint") for the cell's weights."""
        if cell is None:
            return []
        pairs = [(getattr(cell, weight), getattr(self, f"{prefix}_{kind}"))
                 for weight, prefix in (("kernel", "kernel"), ("recurrent_kernel", "recurrent"), ("bias", "bias"))]
        return [(w, p) for w, p in pairs if w is not None and p is not None]


_SIGNATURES: dict[type, frozenset[str]] = {}


def signature_names(layer_class: type) -> frozenset[str]:
    """The arguments a layer class's constructor names: the keys of its config."""
    if layer_class not in _SIGNATURES:
        _SIGNATURES[layer_class] = frozenset(inspect.signature(layer_class).parameters)
    return _SIGNATURES[layer_class]


class SettingsLayer(Layer):
    """A recurrent layer whose constructor arguments land in three frozen settings objects: the
    cell's (`cell_settings`), the sequence-wide ones (`sequence`) and the weight penalties
    (`penalties`). Their fields read as the layer's attributes, and its config is derived from
    them: each argument its signature names.

    A subclass keeps Keras's explicit signature and hands its `locals()` to this constructor,
    with `fixed` the settings its class implies (CuDNNLSTM's bias layout); an argument no
    settings object takes is an error.
    """

    parts: ClassVar[tuple[str, ...]] = ("cell_settings", "sequence", "penalties")

    def __init__(self, given: dict[str, Any], cell_settings_class: type[Settings], **fixed: Any) -> None:
        arguments = {k: v for k, v in given.items() if k not in ("self", "__class__", "kwargs")}
        super().__init__(**(given.get("kwargs") or {}))
        arguments.update(fixed)
        self.cell_settings = cell_settings_class.picked(arguments)
        self.sequence = SequenceSettings.picked(arguments)
        self.penalties = WeightPenalties.picked(arguments)
        if arguments:  # a layer class whose signature names an argument no settings object takes
            raise TypeError(f"{type(self).__name__} has arguments no settings take: {sorted(arguments)}")
        self.activity_regularizer = self.penalties.activity_regularizer

    def _part_of(self, name: str) -> str | None:
        """Which settings object has a field `name` (None: none has)."""
        for part in type(self).parts:
            settings = self.__dict__.get(part)
            if settings is not None and name in settings.__dataclass_fields__:
                return part
        return None

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            part = self._part_of(name)
            if part is None:
                raise
            return getattr(self.__dict__[part], name)

    def __setattr__(self, name: str, value: Any) -> None:
        """Setting an option (`layer.return_sequences = True`) makes new settings, checked as when
        the layer was made; an option of the cell is fixed once the weights exist."""
        part = self._part_of(name)
        if part is not None:
            if part == "cell_settings" and self.__dict__.get("_modules", {}).get("cell") is not None:
                raise AttributeError(f"{type(self).__name__} layer {self.name!r} is built, and its weights fix {name}: "
                                     f"make a new layer with {name}={value!r}")
            object.__setattr__(self, part, dataclasses.replace(self.__dict__[part], **{name: value}))
            if name not in self.__dict__:
                return
        super().__setattr__(name, value)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        keep = signature_names(type(self))
        for part in type(self).parts:
            config.update(getattr(self, part).config(keep))
        return config

    # ---- regularization and constraints --------------------------------------------------------

    def weight_regularizers(self) -> list[tuple[torch.Tensor, regularizers.Regularizer]]:
        return self.penalties.on(getattr(self, "cell", None), "regularizer")

    def weight_constraints(self) -> list[tuple[torch.Tensor, constraints.Constraint]]:
        return self.penalties.on(getattr(self, "cell", None), "constraint")


class Recurrent(SettingsLayer):
    """Base of the recurrent layers: runs a cell over a (batch, timesteps, features) sequence.

    A subclass names its cell class (`cell_class`, whose settings class takes the cell's
    arguments), has Keras's explicit signature, and passes its `locals()` here (see
    `SettingsLayer`). `preset` fixes settings a class implies (CuDNNLSTM's bias layout).
    """

    cell_class: ClassVar[type[RecurrentCell]]
    preset: ClassVar[dict[str, Any]] = {}
    cell_settings: CellSettings

    def __init__(self, given: dict[str, Any]) -> None:
        super().__init__(given, self.cell_class.settings_class, **self.preset)
        self.cell: RecurrentCell | None = None
        self.states: list[torch.Tensor] | None = None  # kept between calls when stateful

    @property
    def state_count(self) -> int:
        return self.cell_class.state_count

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
        self.cell = self.cell_class(int(input_shape[-1]), self.cell_settings)

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
        if not (x.dtype in mixed_precision.LOW_PRECISION and dtype == torch.float32):
            x = x.to(dtype)  # (B, T, D); a mixed-precision layer's low-precision x stays (run_sequence)
        B, T, D = x.shape
        mask = self._checked_mask(mask, B, T, x.device)
        state = self._start_state(B, initial_state, dtype, x.device)
        output, state = run_sequence(cell, x, state, self.sequence, mask=mask, training=training,
                                     owner=f"{type(self).__name__} layer {self.name!r}")
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

    def extra_repr(self) -> str:
        flags = [f"units={self.units}"]
        for flag in ("return_sequences", "return_state", "go_backwards", "stateful"):
            if getattr(self, flag):
                flags.append(f"{flag}=True")
        return f"name={self.name!r}, " + ", ".join(flags)
