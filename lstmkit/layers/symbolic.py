"""Symbolic tensors: what `Input(...)` returns and what calling a layer on one returns, so that a
graph of layers can be written as Keras's functional API writes it:

    inputs = Input(shape=(None, 4))                  # SymbolicTensor, shape (None, None, 4)
    output, h, c = LSTM(8, return_state=True)(inputs)
    model = Model(inputs, Dense(3)(output))

A symbolic tensor holds a shape (batch first, None where unknown) and a dtype, and remembers the
call that made it: a `Node` (the layer, the arguments it was called with, its outputs). Calling
a layer on symbolic tensors builds the layer for their shapes (its weights are created then),
checks them, and returns symbolic outputs of the shapes `compute_output_shape` gives; nothing
is computed. A layer called twice has two nodes and one set of weights (a shared layer).

Symbolic tensors never change once made, so a graph of them has no cycles; `lstmkit.models.Model`
walks back from the outputs to the inputs to find the calls to run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:
    from .base import Layer, Shape


class Node:
    """One call of `layer`: `args` (a tensor or a list of them, as the layer took its input),
    `kwargs` (other call arguments, such as `initial_state`, which may hold tensors) and the
    symbolic outputs. `index` counts this layer's calls (Keras's node index)."""

    def __init__(self, layer: "Layer", args: Any, kwargs: dict[str, Any], index: int) -> None:
        self.layer, self.args, self.kwargs, self.index = layer, args, kwargs, index
        self.outputs: list[SymbolicTensor] = []

    @property
    def is_input(self) -> bool:
        return self.args is None

    def input_tensors(self) -> list["SymbolicTensor"]:
        """The symbolic tensors this call read: its input, then those among its other arguments."""
        return [*flatten(self.args), *(t for value in self.kwargs.values() for t in flatten(value))]


class SymbolicTensor:
    """A placeholder for a tensor of `shape` (batch first) and `dtype`, made by `node`'s call
    (output number `index` of it)."""

    def __init__(self, shape: "Shape", dtype: str, node: Node, index: int) -> None:
        self.shape: tuple[int | None, ...] = tuple(shape)
        self.dtype, self.node, self.index = dtype, node, index

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def layer(self) -> "Layer":
        """The layer whose call made this tensor."""
        return self.node.layer

    def reference(self) -> str:
        """`layer[node][tensor]`, as Keras's summary names a tensor."""
        return f"{self.node.layer.name}[{self.node.index}][{self.index}]"

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={self.shape} dtype={self.dtype} from {self.reference()}>"

    def __iter__(self) -> Iterator[Any]:
        raise TypeError(f"A symbolic tensor is one tensor; {self.reference()} cannot be unpacked (a layer with "
                        "return_state=True returns a list to unpack)")

    def __bool__(self) -> bool:
        raise TypeError("A symbolic tensor has no truth value: it holds no data until the model runs")

    def numpy(self) -> Any:
        raise TypeError("A symbolic tensor holds no data: build a Model from it and call model.predict(...)")


def flatten(value: Any) -> list[SymbolicTensor]:
    """The symbolic tensors in a nest of lists, tuples and dicts, in order."""
    if isinstance(value, SymbolicTensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in flatten(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in flatten(item)]
    return []


def map_structure(fn: Callable[[Any], Any], value: Any, leaf: type = SymbolicTensor) -> Any:
    """`value` (a nest of lists, tuples and dicts) with each `leaf` in it (a symbolic tensor, or
    another type: torch.Tensor) replaced by `fn(leaf)`; everything else as it is."""
    if isinstance(value, leaf):
        return fn(value)
    if isinstance(value, (list, tuple)):
        return type(value)(map_structure(fn, item, leaf) for item in value)
    if isinstance(value, dict):
        return {k: map_structure(fn, item, leaf) for k, item in value.items()}
    return value


def is_symbolic(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether a symbolic tensor is among the arguments (a layer called on the graph's inputs)."""
    return len(flatten(list(args))) + len(flatten(kwargs)) > 0


def shape_of(value: Any) -> Any:
    """A tensor's shape, or a list of shapes for a list of tensors."""
    if isinstance(value, SymbolicTensor):
        return value.shape
    if isinstance(value, (list, tuple)):
        return [shape_of(v) for v in value]
    raise TypeError(f"Expected a symbolic tensor or a list of them, got {type(value).__name__}: when one argument of a "
                    "layer call is symbolic (from Input), the input must be too")


def input_tensor(layer: "Layer", shape: "Shape", dtype: str) -> SymbolicTensor:
    """The symbolic tensor an input layer stands for (its one node has no inputs)."""
    node = Node(layer, None, {}, len(layer.symbolic_nodes))
    node.outputs = [SymbolicTensor(shape, dtype, node, 0)]
    layer.symbolic_nodes.append(node)
    return node.outputs[0]


def call(layer: "Layer", args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """`layer(*args, **kwargs)` on symbolic tensors: builds and checks the layer, and returns its
    symbolic outputs (a list when the layer returns several)."""
    if len(args) != 1:
        raise TypeError(f"Layer {layer.name!r} takes its input as one argument (a list for several), got {len(args)} "
                        "positional arguments")
    x = args[0]
    if "training" in kwargs and not isinstance(kwargs["training"], (bool, type(None))):
        raise TypeError(f"training must be True, False or None, got {kwargs['training']!r}")
    input_shape = shape_of(x)
    layer.check_symbolic_call(input_shape, {k: map_structure(lambda t: t.shape, v) for k, v in kwargs.items()})
    if layer.built:
        layer.check_input_shape(input_shape)
    else:
        layer.ensure_built(input_shape)
    dtype = layer.output_dtype(map_structure(lambda t: t.dtype, x))
    output_shape = layer.compute_output_shape(input_shape)
    node = Node(layer, x, dict(kwargs), len(layer.symbolic_nodes))
    if isinstance(output_shape, list):
        node.outputs = [SymbolicTensor(shape, dtype, node, i) for i, shape in enumerate(output_shape)]
    else:
        node.outputs = [SymbolicTensor(output_shape, dtype, node, 0)]
    layer.symbolic_nodes.append(node)
    return list(node.outputs) if isinstance(output_shape, list) else node.outputs[0]
