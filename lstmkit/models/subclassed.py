"""A model written as a class, Keras's third way:

    class Encoder(keras.Model):
        def __init__(self):
            super().__init__()
            self.lstm = keras.layers.LSTM(32)
            self.out = keras.layers.Dense(1)

        def call(self, inputs, training=False):
            return self.out(self.lstm(inputs))

A subclass of `Model` that defines `call` is given this class's behaviour (`Model.__init_subclass__`
puts `SubclassedModel` between it and `Model`): its layers are the `Layer`s it holds as
attributes, in the order they were set (Keras's weight order); it is built by its first batch
(the layers create their weights as `call` runs them); `fit`, `evaluate`, `predict`, `summary`,
`get_weights` / `set_weights` and `save_weights` / `load_weights` work as for any model. Its
architecture is Python code, so `save` (which writes an architecture) refuses and says to use
`save_weights`.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import torch

from ..layers.base import Layer, snake_case
from .model import Model


class SubclassedModel(Model):
    """The behaviour of a `Model` subclass that defines `call` (see the module docstring)."""

    subclassed = True

    def __init__(self, *args: Any, name: str | None = None, trainable: bool = True, **kwargs: Any) -> None:
        if args and args[0] is self:  # `super().__init__(self)`, as a tensorflow.org tutorial writes it
            args = args[1:]
        if args or {"inputs", "outputs"} & set(kwargs):
            raise TypeError(f"{type(self).__name__} defines call(), so it is built from its layers, not from "
                            "Model(inputs, outputs): call super().__init__() (with name= if you like)")
        Layer.__init__(self, name=name or snake_case(type(self).__name__), trainable=trainable)
        self._input_count = 1
        self._output_shapes: list[Any] | None = None

    # ---- what the training loop asks of a model ------------------------------------------------------

    @property
    def layers(self) -> list[Layer]:  # type: ignore[override]
        return [m for m in self.children() if isinstance(m, Layer)]

    @property
    def built(self) -> bool:
        return self._output_shapes is not None

    @built.setter
    def built(self, value: bool) -> None:
        """Built by the first batch it runs."""

    @property
    def input_names(self) -> list[str]:  # type: ignore[override]
        return [f"input_{i + 1}" for i in range(self._input_count)]

    @property
    def output_names(self) -> list[str]:  # type: ignore[override]
        count = 1 if self._output_shapes is None else len(self._output_shapes)
        return [f"output_{i + 1}" for i in range(count)]

    @property
    def output_shapes(self) -> list[Any]:
        if self._output_shapes is None:
            raise ValueError(f"Model {self.name!r} is not built yet: it learns its output shapes from the first batch it runs")
        return list(self._output_shapes)

    @property
    def output_shape(self) -> Any:
        shapes = self.output_shapes
        return shapes[0] if len(shapes) == 1 else shapes

    def output_activations(self) -> list[Any]:
        return [None] * len(self.output_names)

    def as_inputs(self, x: Any, argument: str = "x", check: bool = True, place: bool = True) -> list[torch.Tensor]:
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
        self._input_count = len(xs)
        return self.adapt_inputs(xs, argument, check, place)

    def adapt_inputs(self, xs: list[Any], argument: str = "x", check: bool = True,
                     place: bool = True) -> list[torch.Tensor]:
        return [self.input_tensor(x, argument if len(xs) == 1 else f"{argument}[{index}]", check, place)
                for index, x in enumerate(xs)]

    def input_readers(self) -> list[list[Layer]]:
        """None known: `call` is the program's Python, so its layers check their inputs themselves."""
        return []

    def text_inputs(self) -> list[bool]:
        return [False] * self._input_count

    def _input_shape_of(self, index: int) -> None:
        """The program's `call` decides what its inputs are."""
        return None

    def check_inputs(self, shapes: Sequence[Sequence[int]], argument: str = "x") -> None:
        """The program's `call` decides what fits; its layers check their own inputs."""
        self._input_count = len(shapes)

    def ensure_built_for(self, xs: list[torch.Tensor]) -> None:
        if not self.built:
            with torch.no_grad(), torch.random.fork_rng():  # building draws no numbers the run would see
                self.run([x[:2] for x in xs], training=False)

    def run(self, xs: list[torch.Tensor], training: bool = False, logits: Sequence[bool] | None = None,
            input_masks: Sequence[Any] | None = None) -> tuple[list[Any], list[torch.Tensor | None]]:
        inputs: Any = xs[0] if len(xs) == 1 else list(xs)
        out = self.call(inputs, **self._call_arguments({"training": training}))
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        if self._output_shapes is None:
            self._output_shapes = [(None, *tuple(o.shape[1:])) for o in outs]
        return outs, [None] * len(outs)

    def forward(self, x: Any = None, mask: Any = None, training: bool | None = None, logits: bool = False,
                **kwargs: Any) -> Any:
        """Runs the program's `call` on `x` (or `inputs=`); other keyword arguments of the call
        (`states=`, `return_state=`, ...) go to it as they are, with its output as `call` returns it."""
        if x is None:
            if "inputs" not in kwargs:
                raise TypeError(f"Model {self.name!r} was called without inputs")
            x = kwargs.pop("inputs")
        training = self.training if training is None else bool(training)
        if kwargs:
            xs = self.as_inputs(x, check=False)
            return self.call(xs[0] if len(xs) == 1 else xs, **self._call_arguments({"training": training, **kwargs}))
        outs, _ = self.run(self.as_inputs(x, check=False), training=training)
        return outs[0] if len(outs) == 1 else outs

    def _structured_outputs(self, values: list[Any]) -> Any:
        return values[0] if len(values) == 1 else list(values)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = self.output_shapes
        return shapes[0] if len(shapes) == 1 else shapes

    # ---- files and the summary ------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "trainable": self.trainable}

    def save(self, filepath: str | os.PathLike[str], overwrite: bool = True, extras: dict[str, Any] | None = None) -> None:
        raise ValueError(f"{type(self).__name__} is defined by its Python code (call), which lstmkit never writes to a "
                         f"file: save its weights with model.save_weights({os.fspath(filepath)!r}), and rebuild it from "
                         "the class before load_weights")

    def require_built_for_weights(self) -> None:
        if not self.built:
            raise ValueError(f"Model {self.name!r} is not built: run it on a batch (model.predict(x[:1])) before set_weights")


Model.subclass_base = SubclassedModel  # type: ignore[attr-defined]
