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
