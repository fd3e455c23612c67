"""Plots people want to look at after training: the loss and metric curves of a `fit`, and a
forecast against the actual series. Written with matplotlib's file backend (no display needed).
"""

from __future__ import annotations

import io
import os
from typing import Any, Mapping, Sequence

import numpy as np

from ._io import atomic_write


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike[str]) -> None:
    """Writes the figure as a PNG, atomically (a crash leaves any previous plot whole)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    atomic_write(path, buffer.getvalue())


def _history_dict(history: Any) -> Mapping[str, Sequence[float]]:
    logs = getattr(history, "history", history)
    if not isinstance(logs, Mapping) or not logs:
        raise ValueError(f"history must be a History (what fit returns) or a non-empty dict of lists, got {history!r}")
    return logs


def history(history: Any, path: str | os.PathLike[str], title: str = "Training") -> str:
    """One panel per quantity (loss first, then each metric), training and validation curves
    against the epoch; written as a PNG to `path`, which is returned.

    Args:
        history: What `fit` returned, or its `history.history` dict.
        path: The PNG to write.
        title: The figure's title.
    """
    logs = _history_dict(history)
    names = [k for k in logs if not k.startswith("val_") and k not in ("lr", "learning_rate")]
    names = sorted(names, key=lambda k: (k != "loss", k))
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 4.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        epochs = np.arange(1, len(logs[name]) + 1)
        ax.plot(epochs, logs[name], marker="o", markersize=3, label="training")
        if f"val_{name}" in logs:
            ax.plot(epochs, logs[f"val_{name}"], marker="o", markersize=3, label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no "epoch 1.5"
        ax.set_ylabel(name.replace("_", " "))
        ax.set_title(name.replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return os.fspath(path)


def forecast(
    time: Sequence[Any],
    actual: np.ndarray,
    forecasts: Mapping[str, tuple[Sequence[Any], np.ndarray]],
    path: str | os.PathLike[str],
    title: str = "Forecast",
    ylabel: str = "value",
    test_start: Any | None = None,
) -> str:
    """The actual series as a line, each forecast (name -> (its times, its values)) over it, and
    a shaded test period from `test_start`; written as a PNG to `path`, which is returned."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.5))
    positions = {t: i for i, t in enumerate(time)}
    ax.plot(np.arange(len(time)), actual, color="black", linewidth=1.5, label="actual")
    for name, (times, values) in forecasts.items():
        ax.plot([positions[t] for t in times], values, linewidth=1.3, label=name)
    if test_start is not None:
        ax.axvspan(positions[test_start], len(time) - 1, color="grey", alpha=0.12, label="test period")
    ticks = np.linspace(0, len(time) - 1, min(len(time), 8)).round().astype(int)
    ax.set_xticks(ticks, [str(time[i]) for i in ticks])
    ax.set_xlabel("time")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return os.fspath(path)


def model_diagram(model: Any, path: str | os.PathLike[str] = "model.png", show_shapes: bool = False,
                  show_layer_names: bool = True, **ignored: Any) -> str:
    """Keras's `plot_model`, drawn with matplotlib (no pydot or graphviz): a box per layer, top to
    bottom in the model's layer order, arrows from the layers each one reads; with `show_shapes`
    each box also gives the output shape. Returns the path of the PNG written."""
    layers = list(model.layers)
    if hasattr(model, "nodes"):  # a graph: each layer's inbound layers from its calls
        _, calls = model.layer_calls()
        shapes = [calls[id(layer)][0].outputs[0].shape if len(calls[id(layer)][0].outputs) == 1
                  else [t.shape for t in calls[id(layer)][0].outputs] for layer in layers]
        sources = [{t.layer.name for n in calls[id(layer)] if not n.is_input for t in n.input_tensors()} for layer in layers]
    else:  # a stack: each layer reads the one before
        shapes = list(model.layer_output_shapes())
        sources = [set()] + [{layers[i - 1].name} for i in range(1, len(layers))]
    plt = _pyplot()
    height = max(2.0, 0.9 * len(layers))
    fig, ax = plt.subplots(figsize=(6, height))
    ax.set_xlim(0, 1)
    ax.set_ylim(-len(layers), 0.5)
    ax.axis("off")
    row = {layer.name: i for i, layer in enumerate(layers)}
    for i, (layer, shape) in enumerate(zip(layers, shapes)):
        text = f"{layer.name} ({type(layer).__name__})" if show_layer_names else type(layer).__name__
        if show_shapes:
            text += f"\noutput: {shape}"
        ax.text(0.5, -i, text, ha="center", va="center", fontsize=9,
                bbox={"boxstyle": "round", "facecolor": "#e8eef7", "edgecolor": "#4a6fa5"})
    for i, names in enumerate(sources):
        for name in sorted(names):
            if name not in row:
                continue
            if row[name] == i - 1:  # the layer just above: straight down
                ax.annotate("", xy=(0.5, -i + 0.3), xytext=(0.5, -row[name] - 0.3),
                            arrowprops={"arrowstyle": "->", "color": "#4a6fa5"})
            else:  # further up: around the boxes, on the right
                ax.annotate("", xy=(0.85, -i), xytext=(0.85, -row[name]),
                            arrowprops={"arrowstyle": "->", "color": "#4a6fa5", "connectionstyle": "arc3,rad=-0.4"})
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return os.fspath(path)
