"""`compile`: the optimizer, a loss for each of the model's outputs with its weight, and the
metrics of each output, resolved against the model's output names.

Keras's forms are all taken: one loss (for every output), a list (one per output, in order) or
a dict (by output name; an output left out has no loss and is not trained on); the same for
`loss_weights` (default 1); metrics as a list (for a model of one output, its metrics; for several,
metrics computed on every output), a list of lists, or a dict of lists by output name.

The figures `fit` reports are named as Keras names them: "loss" (the weighted sum, plus the
layers' penalties); with several outputs, "<output>_loss" for each (unweighted) and
"<output>_<metric>"; with one output, the metric's own name.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module


@dataclass
class Output:
    """What training does with one model output."""

    name: str
    loss: Any  # the loss as given (a name, a callable) or None
    loss_fn: losses_module.LossFn | None
    weight: float
    metrics: list[tuple[str, Any]] = field(default_factory=list)  # (the figure's name, the metric as given)


@dataclass
class Setup:
    """The result of `compile`: the optimizer and each output's loss, weight and metrics."""

    optimizer: optimizers_module.Optimizer
    loss: Any
    loss_weights: Any
    metrics: Any
    outputs: list[Output]

    @property
    def names(self) -> list[str]:
        """The figures in Keras's order: loss, each output's loss (several outputs), metrics."""
        per_output = [f"{o.name}_loss" for o in self.outputs] if len(self.outputs) > 1 else []
        return ["loss", *per_output, *(name for o in self.outputs for name, _ in o.metrics)]

    @property
    def trained_outputs(self) -> list[int]:
        return [i for i, o in enumerate(self.outputs) if o.loss_fn is not None]

    def config(self) -> dict[str, Any]:
        """What a model file keeps of it (`lstmkit.serialization.to_json` writes the values)."""
        return {
            "optimizer": {"class_name": type(self.optimizer).__name__, "config": self.optimizer.get_config()},
            "loss": self.loss,
            "loss_weights": self.loss_weights,
            "metrics": self.metrics,
        }


def _per_output(value: Any, outputs: Sequence[str], argument: str, default: Any) -> list[Any]:
    """`value` given once, as a list in output order, or as a dict by output name -> one per output."""
    if isinstance(value, Mapping):
        unknown = sorted(str(k) for k in value if k not in outputs)
        if unknown:
            raise ValueError(f"{argument} names {unknown}, which are not outputs of the model; its outputs are "
                             f"{list(outputs)}")
        return [value.get(name, default) for name in outputs]
    if isinstance(value, (list, tuple)):
        if len(value) != len(outputs):
            raise ValueError(f"{argument} is a list of {len(value)}, but the model has {len(outputs)} output(s) "
                             f"{list(outputs)}: give one entry per output, or a dict by output name")
        return list(value)
    return [value] * len(outputs)


def _metrics_per_output(metrics: Any, outputs: Sequence[str]) -> list[list[Any]]:
    if metrics is None:
        return [[] for _ in outputs]
    if isinstance(metrics, Mapping):
        lists = _per_output(metrics, outputs, "metrics", [])
        return [list(m) if isinstance(m, (list, tuple)) else ([] if m is None else [m]) for m in lists]
    if not isinstance(metrics, (list, tuple)):
        metrics = [metrics]
    nested = [isinstance(m, (list, tuple)) or m is None for m in metrics]
    if metrics and all(nested) and len(outputs) > 1:
        lists = _per_output(list(metrics), outputs, "metrics", [])
        return [[] if m is None else list(m) for m in lists]
    if any(nested):
        raise ValueError(f"metrics must be a list of metrics, a list of lists (one per output) or a dict by output "
                         f"name; got metrics={metrics!r:.200}")
    return [list(metrics) for _ in outputs]


def setup(
    output_names: Sequence[str],
    optimizer: str | optimizers_module.Optimizer,
    loss: Any,
    metrics: Any,
    loss_weights: Any,
) -> Setup:
    """Resolves `compile`'s arguments against the model's outputs.

    Raises:
        ValueError: For an unknown name, a list of the wrong length, a dict naming no output,
            repeated figure names.
    """
    optimizer_obj = optimizers_module.get(optimizer)
    several = len(output_names) > 1
    output_losses = _per_output(loss, output_names, "loss", None)
    weights = _per_output(loss_weights, output_names, "loss_weights", 1.0) if loss_weights is not None else [1.0] * len(output_names)
    for name, w in zip(output_names, weights):
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not 0 <= float(w) < float("inf"):
            raise ValueError(f"Expected loss_weights to be finite numbers >= 0, got {w!r} for output {name!r}")
    outputs = []
    for name, given, weight, metric_list in zip(output_names, output_losses, weights, _metrics_per_output(metrics, output_names)):
        for identifier in metric_list:
            metrics_module.check(identifier)
        named = [(f"{name}_{metrics_module.name_of(m)}" if several else metrics_module.name_of(m), m) for m in metric_list]
        outputs.append(Output(name, given, None if given is None else losses_module.get(given), float(weight), named))
    names = [n for o in outputs for n, _ in o.metrics] + ([f"{o.name}_loss" for o in outputs] if several else [])
    repeated = sorted({n for n in names if names.count(n) > 1} | ({"loss"} & set(names)))
    if repeated:
        raise ValueError(f"Metric names must be unique and not 'loss'; got {names} (repeated: {repeated})")
    return Setup(optimizer_obj, loss, loss_weights, metrics, outputs)
