"""`model.summary()`: the Keras-style table of layers, output shapes and parameter counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .sequential import Sequential


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


def summary_lines(model: "Sequential", line_length: int = 80) -> list[str]:
    """The table as lines: name (type), output shape and parameter count per layer, then totals."""
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
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    element = next((p.element_size() for p in model.parameters()), 4)
    lines += [
        double_rule,
        f"Total params: {total:,} ({format_bytes(total * element)})",
        f"Trainable params: {trainable:,} ({format_bytes(trainable * element)})",
        f"Non-trainable params: {total - trainable:,} ({format_bytes((total - trainable) * element)})",
        rule,
    ]
    return lines


def print_summary(model: "Sequential", line_length: int | None = None, print_fn: Callable[[str], Any] | None = None) -> None:
    for line in summary_lines(model, line_length or 80):
        (print_fn or print)(line)
