"""`model.summary()`: the Keras-style table of layers, output shapes and parameter counts."""

from __future__ import annotations

from typing import Any, Callable


def format_shape(shape: Any) -> str:
    if isinstance(shape, list):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def format_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _totals(model: Any, line_length: int) -> list[str]:
    # Keras's weights: parameters and the statistics some layers keep (BatchNormalization's moving
    # mean and variance), which count as non-trainable
    weights = model.weights
    trainable = sum(w.numel() for w in weights if w.requires_grad)
    total = sum(w.numel() for w in weights)
    element = next((w.element_size() for w in weights), 4)
    return [
        "=" * line_length,
        f"Total params: {total:,} ({format_bytes(total * element)})",
        f"Trainable params: {trainable:,} ({format_bytes(trainable * element)})",
        f"Non-trainable params: {total - trainable:,} ({format_bytes((total - trainable) * element)})",
        "_" * line_length,
    ]


def summary_lines(model: Any, line_length: int = 80) -> list[str]:
    """The table as lines: name (type), output shape and parameter count per layer, then
    totals; for a graph (`Model(inputs, outputs)`) also its input layers and, per layer, the
    tensors it is called on (`layer[call][output]`, Keras's "Connected to")."""
    chain = hasattr(model, "input_layer")  # a Sequential: Keras prints it without the connections
    if not chain and hasattr(model, "nodes"):
        return _graph_lines(model, max(line_length, 98))
    if getattr(model, "subclassed", False):  # a class of the program's own: its layers' shapes are not known
        return _subclassed_lines(model, line_length)
    if getattr(model, "input_layer", True) is None:  # a Sequential with no input shape yet: what Keras knows
        return _subclassed_lines(model, line_length)
    widths = (int(line_length * 0.42), int(line_length * 0.36))
    rule, double_rule = "_" * line_length, "=" * line_length

    def row(name: str, shape: str, params: str) -> str:
        return f" {name:<{widths[0] - 1}}{shape:<{widths[1]}}{params:>{line_length - sum(widths) - 1}}"

    lines = [f'Model: "{model.name}"', rule, row("Layer (type)", "Output Shape", "Param #"), double_rule]
    shapes = model.layer_output_shapes()
    for index, (layer, shape) in enumerate(zip(model.layers, shapes)):
        lines.append(row(f"{layer.name} ({type(layer).__name__})", format_shape(shape), f"{layer.count_params():,}"))
        if index < len(model.layers) - 1:
            lines.append("")
    return lines + _totals(model, line_length)


def _subclassed_lines(model: Any, line_length: int) -> list[str]:
    widths = (int(line_length * 0.42), int(line_length * 0.36))

    def row(name: str, shape: str, params: str) -> str:
        return f" {name:<{widths[0] - 1}}{shape:<{widths[1]}}{params:>{line_length - sum(widths) - 1}}"

    lines = [f'Model: "{model.name}"', "_" * line_length, row("Layer (type)", "Output Shape", "Param #"), "=" * line_length]
    for index, layer in enumerate(model.layers):
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        lines.append(row(f"{layer.name} ({type(layer).__name__})", "?", params))
        if index < len(model.layers) - 1:
            lines.append("")
    return lines + _totals(model, line_length)


def _graph_lines(model: Any, line_length: int) -> list[str]:
    widths = [int(line_length * f) for f in (0.30, 0.26, 0.12)]
    widths.append(line_length - sum(widths))

    def row(*cells: str) -> str:
        name, shape, params, connected = cells
        return (f" {name:<{widths[0] - 1}}{shape:<{widths[1]}}{params:>{widths[2] - 2}}  {connected}").rstrip()

    numbers, calls = model.layer_calls()

    def ref(t: Any) -> str:
        return f"{t.layer.name}[{numbers.get(id(t.node), t.node.index)}][{t.index}]"

    lines = [f'Model: "{model.name}"', "_" * line_length, row("Layer (type)", "Output Shape", "Param #", "Connected to"),
             "=" * line_length]
    for index, layer in enumerate(model.layers):
        nodes = calls[id(layer)]
        shapes = [[t.shape for t in n.outputs] for n in nodes]
        shape = shapes[0][0] if len(shapes[0]) == 1 else shapes[0]
        connected = [ref(t) for n in nodes if not n.is_input for t in n.input_tensors()] or ["-"]
        lines.append(row(f"{layer.name} ({type(layer).__name__})", format_shape(shape), f"{layer.count_params():,}",
                         connected[0]))
        lines.extend(row("", "", "", c) for c in connected[1:])
        if index < len(model.layers) - 1:
            lines.append("")
    return lines + _totals(model, line_length)


def print_summary(model: Any, line_length: int | None = None, print_fn: Callable[[str], Any] | None = None) -> None:
    for line in summary_lines(model, line_length or 80):
        (print_fn or print)(line)
