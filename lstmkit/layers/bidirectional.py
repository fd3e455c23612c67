"""`Bidirectional`: runs a recurrent layer forwards and a copy of it backwards, and merges them."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from .._checks import one_of
from .base import Layer, Shape
from .registry import deserialize, serialize
from .recurrent import Recurrent

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Layer):
    """Keras's `Bidirectional` wrapper.

    The forward layer is a copy of `layer` named `forward_<name>`; the backward layer is a copy
    with `go_backwards` flipped named `backward_<name>` (or `backward_layer` when given). The
    backward outputs are put back in time order before merging. When returning sequences, masked
    steps give zero outputs in both directions (Keras forces `zero_output_for_mask` there).

    Weights: the forward layer's, then the backward layer's.

    Args:
        layer: A recurrent layer (`LSTM`, `GRU`, `SimpleRNN`, `CuDNNLSTM`).
        merge_mode: `"concat"` (default), `"sum"`, `"mul"`, `"ave"`, or None for the pair
            `[forward, backward]` unmerged.
        backward_layer: An explicit backward layer, with the opposite `go_backwards`.
        **kwargs: `name`, `input_shape`, ... as for any layer.

    With `return_state`, the call returns `[output, *forward_states, *backward_states]`.

    >>> import torch
    >>> from lstmkit.layers import LSTM
    >>> layer = Bidirectional(LSTM(4, return_sequences=True))
    >>> tuple(layer(torch.zeros(2, 5, 3)).shape), [l.name for l in (layer.forward_layer, layer.backward_layer)]
    ((2, 5, 8), ['forward_lstm', 'backward_lstm'])
    """

    def __init__(
        self,
        layer: Recurrent,
        merge_mode: str | None = "concat",
        weights: Sequence[Any] | None = None,
        backward_layer: Recurrent | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(layer, Recurrent):
            raise ValueError(
                f"Bidirectional wraps a recurrent layer (LSTM, GRU, SimpleRNN), got layer={layer!r}"
            )
        if "input_shape" not in kwargs and "batch_input_shape" not in kwargs and layer.declared_input_shape is not None:
            kwargs["batch_input_shape"] = layer.declared_input_shape
        super().__init__(**kwargs)
        self.merge_mode = one_of("merge_mode", merge_mode, MERGE_MODES)
        self.forward_layer = _copy(layer, name=f"forward_{layer.name}", go_backwards=layer.go_backwards)
        if backward_layer is None:
            self.backward_layer = _copy(layer, name=f"backward_{layer.name}", go_backwards=not layer.go_backwards)
        else:
            if not isinstance(backward_layer, Recurrent):
                raise ValueError(f"Expected a recurrent layer for backward_layer, got backward_layer={backward_layer!r}")
            if backward_layer.go_backwards == layer.go_backwards:
                raise ValueError(
                    "backward_layer must read in the opposite direction to layer: got go_backwards="
                    f"{layer.go_backwards} for both"
                )
            for attribute in ("return_sequences", "return_state", "stateful"):
                if getattr(backward_layer, attribute) != getattr(layer, attribute):
                    raise ValueError(
                        f"layer and backward_layer must agree on {attribute}: got {getattr(layer, attribute)} "
                        f"and {getattr(backward_layer, attribute)}"
                    )
            self.backward_layer = backward_layer
        for direction in (self.forward_layer, self.backward_layer):
            direction.zero_output_for_mask = direction.return_sequences
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.stateful = layer.stateful
        self._initial_weights = None if weights is None else list(weights)

    @property
    def state_count(self) -> int:
        """States returned with `return_state`: the forward layer's, then the backward one's."""
        return self.forward_layer.state_count + self.backward_layer.state_count

    def check_symbolic_call(self, input_shape: Any, argument_shapes: dict[str, Any]) -> None:
        states = argument_shapes.pop("initial_state", None)
        super().check_symbolic_call(input_shape, argument_shapes)
        if states is not None and len(list(states)) != self.state_count:
            raise ValueError(f"Bidirectional layer {self.name!r} expects {self.state_count} initial state tensors "
                             f"(the forward layer's, then the backward layer's), got {len(list(states))}")

    def check_input_shape(self, input_shape: Shape) -> None:
        self.forward_layer.check_input_shape(input_shape)

    def build(self, input_shape: Shape) -> None:
        self.forward_layer.ensure_built(input_shape)
        self.backward_layer.ensure_built(input_shape)
        if self._initial_weights is not None:
            self.built = True
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def call(  # type: ignore[override]
        self,
        x: torch.Tensor,
        *,
        mask: torch.Tensor | None = None,
        training: bool = False,
        initial_state: Sequence[Any] | None = None,
    ) -> Any:
        forward_state = backward_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = list(initial_state[:half]), list(initial_state[half:])
        y = self.forward_layer(x, mask=mask, training=training, initial_state=forward_state)
        y_rev = self.backward_layer(x, mask=mask, training=training, initial_state=backward_state)
        states: list[torch.Tensor] = []
        if self.return_state:
            states = [*y[1:], *y_rev[1:]]
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev.flip(1)  # the backward layer emitted its outputs last step first
        output = self._merge(y, y_rev)
        if self.return_state:
            return [*output, *states] if self.merge_mode is None else [output, *states]
        return output

    def _merge(self, y: torch.Tensor, y_rev: torch.Tensor) -> Any:
        if self.merge_mode == "concat":
            return torch.cat([y, y_rev], dim=-1)
        if self.merge_mode == "sum":
            return y + y_rev
        if self.merge_mode == "mul":
            return y * y_rev
        if self.merge_mode == "ave":
            return (y + y_rev) / 2
        return [y, y_rev]

    def compute_output_shape(self, input_shape: Shape) -> Any:
        forward = self.forward_layer.compute_output_shape(input_shape)
        backward = self.backward_layer.compute_output_shape(input_shape)
        states: list[Any] = []
        if self.return_state:
            states = list(forward[1:]) + list(backward[1:])
            forward, backward = forward[0], backward[0]
        if self.merge_mode == "concat":
            output: Any = (*forward[:-1], forward[-1] + backward[-1])
        elif self.merge_mode is None:
            output = [forward, backward]
        else:
            output = forward
        if self.return_state:
            return [*output, *states] if self.merge_mode is None else [output, *states]
        return output

    def compute_mask(self, x: Any, mask: torch.Tensor | None) -> Any:
        output_mask = mask if self.return_sequences else None
        masks: list[Any] = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if self.return_state:
            masks += [None] * self.state_count
        return masks if len(masks) > 1 else masks[0]

    def reset_states(self, states: Sequence[Any] | None = None) -> None:
        """Resets (or sets, forward layer's first) the states of both directions of a stateful layer."""
        if states is None:
            self.forward_layer.reset_states()
            self.backward_layer.reset_states()
        else:
            half = len(states) // 2
            self.forward_layer.reset_states(states[:half])
            self.backward_layer.reset_states(states[half:])

    reset_state = reset_states

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        layer_config = serialize(self.forward_layer)
        layer_config["config"]["name"] = self.forward_layer.name.removeprefix("forward_")
        config.update(layer=layer_config, merge_mode=self.merge_mode, backward_layer=serialize(self.backward_layer))
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Bidirectional":
        """The layer again from `get_config()`'s dictionary, its wrapped layers rebuilt first."""
        config = dict(config)
        config["layer"] = deserialize(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize(config["backward_layer"])
        return cls(**config)


def _copy(layer: Recurrent, *, name: str, go_backwards: bool) -> Recurrent:
    config = layer.get_config()
    config.pop("batch_input_shape", None)
    config.update(name=name, go_backwards=go_backwards)
    copy = type(layer).from_config(config)
    assert isinstance(copy, Recurrent)
    return copy
