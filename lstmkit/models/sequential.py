"""`Sequential`: a stack of layers, each feeding the next, with Keras's model interface.

It is a functional `Model` whose graph is built as layers are added: a chain from its `Input`
through each layer, traced when first needed after a change. Running, training, masks, logits
and input checks are `Model`'s; what is Sequential's own is the adding (names, the input shape
from the first layer or the first batch) and its config.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np  # noqa: F401  (the docstring's example)
import torch

from ..layers.base import Layer, Shape
from ..layers.input_layer import InputLayer
from ..layers.registry import deserialize, serialize
from ..layers.symbolic import Node, SymbolicTensor
from .graph import trace
from .model import Model


class Sequential(Model):
    """A linear stack of layers, and a `torch.nn.Module`.

    The input shape comes from an `Input(shape=...)` given first, or from `input_shape=` on the
    first layer; every layer is then built as it is added. Without either, layers are built on
    the first call. Masks produced by `Masking` or `Embedding(mask_zero=True)` travel from layer
    to layer as in Keras.

    Args:
        layers: Layers to add in order; an `Input` may come first.
        name: The model's name (default `"sequential"`).

    >>> from lstmkit.layers import Input, LSTM, Dense
    >>> model = Sequential([Input(shape=(28, 28)), LSTM(16), Dense(10, activation="softmax")])
    >>> model.predict(np.zeros((3, 28, 28), dtype="float32")).shape
    (3, 10)
    """

    check_finite: bool = True  # refuse NaN and infinite inputs (set False to let them through)

    def __init__(self, layers: Iterable[Layer] | None = None, name: str | None = None, trainable: bool = True) -> None:
        super().__init__(name=name or "sequential", trainable=trainable)
        # a default name is Keras's "sequential", which a model holding two renames "sequential_1"
        self._given_name = name is not None
        self.input_layer: InputLayer | None = None
        self._changes = 0  # counts the adds and pops: the graph is traced again after one
        self._traced: tuple[int, list[SymbolicTensor], list[Node]] | None = None  # (_changes, outputs, nodes)
        # (the input shape, how many layers are built for it, the last one's output shape): `add`
        # builds the new layer alone, so that a stack of n layers is built in time linear in n
        self._built_through: tuple[Any, int, Any] | None = None
        self._names: set[str] = set()  # the layers' names, as `add` gave them
        self._free_time_axis = False  # built by a first batch: see ensure_built_for
        self._next_suffix: dict[str, int] = {}
        for layer in layers or []:
            self.add(layer)

    # ---- building ------------------------------------------------------------------------------

    def add(self, layer: Layer) -> None:
        """Appends a layer (or sets the input with an `Input`) and builds it when the input shape is known."""
        if isinstance(layer, SymbolicTensor):
            if not isinstance(layer.layer, InputLayer):
                raise TypeError(f"Sequential.add takes layers, and an Input first; got the output of layer {layer.layer.name!r}")
            layer = layer.layer
        if isinstance(layer, InputLayer):
            if len(self.layers) or self.input_layer is not None:
                raise ValueError("An Input can only be the first entry of a Sequential model")
            self.input_layer = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential.add expects an lstmkit layer, got {layer!r} of type {type(layer).__name__}"
            )
        if len(self.layers):
            previous = self.layers[-1]
            if getattr(previous, "return_state", False) or getattr(previous, "merge_mode", "concat") is None:
                raise ValueError(
                    f"Layer {previous.name!r} returns several tensors (return_state=True or merge_mode=None); "
                    "a Sequential model passes one tensor from layer to layer"
                )
        elif self.input_layer is None and layer.declared_input_shape is not None:
            self.input_layer = InputLayer(batch_shape=layer.declared_input_shape)
        self._give_unique_name(layer)
        self.layers.append(layer)
        self._names.add(layer.name)
        self._changes += 1
        if self.input_layer is not None:
            self._build_layers(self.input_layer.shape)

    def pop(self) -> Layer:
        """Removes and returns the last layer."""
        if not len(self.layers):
            raise ValueError(f"Sequential model {self.name!r} has no layers to pop")
        layer: Layer = self.layers[-1]
        del self.layers[-1]
        self._names.discard(layer.name)
        self._built_through = None
        self._changes += 1
        return layer

    def _give_unique_name(self, layer: Layer) -> None:
        """Keras's rule: a layer whose default name is taken gets the first free `name_N`."""
        if layer.name not in self._names:
            return
        if layer._given_name:
            raise ValueError(f"All layers in a Sequential model need unique names; {layer.name!r} is already used")
        base = layer.name
        suffix = self._next_suffix.get(base, 1)  # where the search for a free one resumes: linear in all
        while f"{base}_{suffix}" in self._names:
            suffix += 1
        self._next_suffix[base] = suffix + 1
        layer.name = f"{base}_{suffix}"

    def _build_layers(self, input_shape: Shape) -> None:
        """Builds the layers not yet built for `input_shape` (all of them when it changed)."""
        shape: Any = tuple(input_shape)
        start = 0
        if self._built_through is not None and self._built_through[0] == shape \
                and self._built_through[1] <= len(self.layers):
            _, start, shape = self._built_through
        for index in range(start, len(self.layers)):
            layer = self.layers[index]
            layer.ensure_built(shape)
            shape = layer.compute_output_shape(shape)
        self._built_through = (tuple(input_shape), len(self.layers), shape)

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Builds every layer for inputs of `input_shape` (batch first, e.g. `(None, 28, 28)`)."""
        if self.input_layer is None:
            self.input_layer = InputLayer(batch_shape=tuple(input_shape))
            self._changes += 1
        self._build_layers(tuple(input_shape))

    @property
    def input_shape(self) -> Shape:
        if self.input_layer is None:
            raise ValueError(f"Sequential model {self.name!r} has no known input shape yet")
        return self.input_layer.shape

    @property
    def output_shape(self) -> Any:
        return self.layer_output_shapes()[-1]

    def layer_output_shapes(self) -> list[Any]:
        """Each layer's output shape, batch first, for the declared input."""
        if self.input_layer is None or not self.built:
            raise ValueError(
                f"Sequential model {self.name!r} is not built yet: give an input shape "
                "(Input(shape=...) first, or input_shape=... on the first layer) or call it on data"
            )
        shapes, shape = [], self.input_layer.shape
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
            shapes.append(shape)
        return shapes

    # ---- the graph Model runs ----------------------------------------------------------------------

    def _trace(self) -> tuple[list[SymbolicTensor], list[Node]]:
        """The chain as a graph (its outputs and the calls to run), traced when first asked for
        after the layers change; it gives the layers their `input` and `output`."""
        if self.input_layer is None or not len(self.layers):
            raise ValueError(f"Sequential model {self.name!r} has no input and output yet: give it an input shape "
                             "(Input(shape=...) first) and layers")
        if self._traced is None or self._traced[0] != self._changes:
            x: Any = self.input_layer.output
            first = x
            for layer in self.layers:
                x = layer(x)
            outputs = list(x) if isinstance(x, list) else [x]
            self._traced = (self._changes, outputs, trace([first], outputs, self.name).nodes)
        return self._traced[1], self._traced[2]

    @property
    def _inputs(self) -> list[SymbolicTensor]:  # type: ignore[override]
        self._trace()
        assert self.input_layer is not None
        return [self.input_layer.output]

    @property
    def _outputs(self) -> list[SymbolicTensor]:  # type: ignore[override]
        return self._trace()[0]

    @property
    def nodes(self) -> list[Node]:  # type: ignore[override]
        """The layer calls to run, in order: the chain's graph."""
        return self._trace()[1]

    _input_keys = _output_keys = None
    _single_input = True

    @property
    def _single_output(self) -> bool:  # type: ignore[override]
        return len(self._outputs) == 1

    # ---- what Sequential adds: inputs before the graph exists ------------------------------------

    @property
    def input_names(self) -> list[str]:  # type: ignore[override]
        """The input layer's name ("input_layer" before the model knows its input)."""
        return [self.input_layer.name if self.input_layer is not None else "input_layer"]

    @property
    def output_names(self) -> list[str]:  # type: ignore[override]
        """The last layer's name before the graph exists, the graph's output names after."""
        if self.input_layer is None or not len(self.layers):  # before the graph: the last layer's
            return [self.layers[-1].name if len(self.layers) else "output"]
        return Model.output_names.fget(self)  # type: ignore[attr-defined]

    def _input_dtype(self, index: int) -> torch.dtype | None:
        return None if self.input_layer is None else self.input_layer.torch_dtype

    def _input_shape_of(self, index: int) -> Shape | None:
        return None if self.input_layer is None else self.input_layer.shape

    def text_inputs(self) -> list[bool]:
        """[True] when the model reads text: an `Input(dtype="string")`, or a first layer that
        reads text (TextVectorization, StringLookup)."""
        declared = self.input_layer is not None and self.input_layer.dtype_name == "string"
        return [declared or bool(len(self.layers) and self.layers[0].accepts_text)]

    def check_inputs(self, shapes: Sequence[Sequence[int]], argument: str = "x") -> None:
        self.check_input_shape(tuple(shapes[0]), argument)

    def ensure_built_for(self, xs: list[Any]) -> None:
        """Builds the model for the first batch `xs` when it has no input shape yet, as Keras
        builds it: the input is that batch's shape."""
        if not len(self.layers):
            raise ValueError(f"Sequential model {self.name!r} has no layers; add some with model.add(...)")
        if self.input_layer is None:
            x = xs[0]
            self.input_layer = InputLayer(batch_shape=(None, *x.shape[1:]))
            self._changes += 1
            # later batches may have other lengths of sequence (padded batches do): the time axis
            # of 3-D data, or of 2-D ids, is not held to the first batch's (Keras does not either)
            self._free_time_axis = isinstance(x, torch.Tensor) and (
                x.dim() >= 3 or (x.dim() == 2 and not x.is_floating_point()))
        self._trace()

    def as_inputs(self, x: Any, argument: str = "x", check: bool = True, place: bool = True) -> list[Any]:
        if self.input_layer is None:  # checked against the shape the first batch gives it
            self.ensure_built_for(self.adapt_inputs([x], argument, check, place=False))
        return super().as_inputs(x, argument, check, place)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape: Any = tuple(input_shape)
        for layer in self.layers:
            layer.ensure_built(shape)
            shape = layer.compute_output_shape(shape)
        return shape

    def check_input_shape(self, shape: Sequence[int], argument: str = "x") -> None:
        """Raises ValueError when data of `shape` (batch first) does not fit the declared input."""
        if self.input_layer is None:
            return
        expected = self.input_layer.shape
        if self._free_time_axis:
            expected = (expected[0], None, *expected[2:])
        if len(shape) != len(expected) or any(e is not None and e != r for e, r in zip(expected[1:], shape[1:])):
            what = "time steps and features" if len(expected) == 3 else "sizes"
            raise ValueError(
                f"Sequential model {self.name!r} expects {argument} of shape {expected} (batch first; None: any "
                f"size), got {argument} of shape {tuple(shape)}: "
                + (f"rank {len(shape)}, not {len(expected)}" if len(shape) != len(expected)
                   else f"{what} {tuple(shape[1:])}, not {tuple(expected[1:])}")
            )

    def forward(self, x: Any, mask: Any = None, training: bool | None = None, logits: bool = False, **kwargs: Any) -> Any:
        if kwargs:
            raise TypeError(f"Sequential model {self.name!r} takes no call argument(s) {sorted(kwargs)}")
        if not len(self.layers):
            raise ValueError(f"Sequential model {self.name!r} has no layers; add some with model.add(...)")
        return super().forward(x, mask, training, logits)

    # ---- weights -------------------------------------------------------------------------------

    def require_built_for_weights(self) -> None:
        if not self.built:
            self.layer_output_shapes()  # raises the "not built" error

    def kind_name(self) -> str:
        return "Sequential model"

    def get_config(self) -> dict[str, Any]:
        entries = [serialize(layer) for layer in self.layers]
        if self.input_layer is not None:
            entries.insert(0, serialize(self.input_layer))
        return {"name": self.name, "layers": entries}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Sequential":
        return cls([deserialize(entry) for entry in config["layers"]], name=config.get("name"))

    def extra_repr(self) -> str:
        return f"name={self.name!r}"
