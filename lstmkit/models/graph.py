"""The graph behind a functional `Model`: from its input and output symbolic tensors, the layer
calls to run (in an order where each call's inputs come first), the layers in Keras's order,
and the errors a graph can have, found before anything is changed.

Keras's layer order (which fixes the order of `get_weights`): walk back from the outputs depth
first, numbering each layer when first met; a call's depth is its longest distance to an
output; layers go deepest first, ties by that number. Input layers are first, but for inputs
that no output uses, which come last.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..layers.base import Layer
from ..layers.symbolic import Node, SymbolicTensor


@dataclass
class Graph:
    nodes: list[Node]  # the calls to run, each after the calls it reads from
    layers: list[Layer]  # every layer of the graph once, Keras's order, input layers included


def _describe(t: SymbolicTensor) -> str:
    return f"{t.layer.name!r} (shape {t.shape})"


def trace(inputs: list[SymbolicTensor], outputs: list[SymbolicTensor], model_name: str) -> Graph:
    """The graph from `inputs` to `outputs`.

    Raises:
        ValueError: An output that depends on none of the inputs, an `Input` used but not
            listed among the inputs, an input listed twice, a cycle.
    """
    input_ids = {id(t) for t in inputs}
    if len(input_ids) != len(inputs):
        raise ValueError(f"Model {model_name!r} lists one input twice among its inputs")
    finished: set[int] = set()
    in_progress: set[int] = set()
    order: list[Node] = []  # post-order: a node after everything it reads
    first_seen: dict[int, int] = {}  # id(layer) -> when the walk first met it
    unlisted: dict[int, SymbolicTensor] = {}

    def reaches(t: SymbolicTensor, found: set[int]) -> None:
        stack: list[tuple[SymbolicTensor, bool]] = [(t, False)]
        while stack:
            tensor, leaving = stack.pop()
            node = tensor.node
            if leaving:
                in_progress.discard(id(node))
                finished.add(id(node))
                order.append(node)
                continue
            if id(tensor) in input_ids:
                found.add(id(tensor))
                if node.is_input and id(node) not in finished:
                    first_seen.setdefault(id(node.layer), len(first_seen))
                    finished.add(id(node))
                    order.append(node)
                continue
            if node.is_input:
                unlisted[id(tensor)] = tensor
                continue
            if id(node) in in_progress:
                raise ValueError(f"Model {model_name!r}: the output of layer {node.layer.name!r} feeds back into itself "
                                 "(the graph has a cycle)")
            if id(node) in finished:
                found.update(_reached.get(id(node), set()))
                continue
            first_seen.setdefault(id(node.layer), len(first_seen))
            in_progress.add(id(node))
            stack.append((tensor, True))
            for parent in reversed(node.input_tensors()):
                stack.append((parent, False))

    _reached: dict[int, set[int]] = {}
    for index, output in enumerate(outputs):
        found: set[int] = set()
        reaches(output, found)
        for node in order:
            _reached.setdefault(id(node), found)
        if not found:
            raise ValueError(
                f"Model {model_name!r}: output {index} (from layer {output.layer.name!r}) does not depend on any of the "
                f"model's inputs {[t.layer.name for t in inputs]}"
                + (f"; it is computed from the input(s) {', '.join(_describe(t) for t in unlisted.values())}, which are "
                   "not listed" if unlisted else "")
            )
    if unlisted:
        raise ValueError(
            f"Model {model_name!r} uses the input(s) {', '.join(_describe(t) for t in unlisted.values())}, which are not "
            "among its inputs: pass them in Model(inputs=[...], ...)"
        )

    # depths: a node's longest distance to an output, counted back from the outputs
    depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    layers_by_id: dict[int, Layer] = {}
    for node in reversed(order):
        d = max(depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        depth[id(node)] = d
        layer_depth[id(node.layer)] = d
        layers_by_id[id(node.layer)] = node.layer
        if node.is_input:
            continue
        for parent in node.input_tensors():
            if id(parent.node) in finished:
                depth[id(parent.node)] = max(depth.get(id(parent.node), 0), d + 1)
    for t in inputs:  # inputs no output uses
        if t.node.is_input and id(t.layer) not in layer_depth:
            layer_depth[id(t.layer)], first_seen[id(t.layer)] = 0, -1
            layers_by_id[id(t.layer)] = t.layer
    layers = sorted(layers_by_id.values(), key=lambda layer: (-layer_depth[id(layer)], first_seen[id(layer)]))
    nodes = [node for node in order if not node.is_input]
    return Graph(nodes, layers)
