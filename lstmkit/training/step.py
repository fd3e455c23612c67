"""One training step and one test step, for a model of any number of inputs and outputs:

    zs = model.run(xs, training=True, logits=...)   each output, as logits when its layer ends
                                                    in the softmax/sigmoid its crossentropy undoes
    loss = Σ_i weight_i · reduce(loss_i(y_i, z_i), sample_weight_i) + Σ model.losses
    optimizer step, then model.apply_constraints()

The figures are Keras's: the loss as the mean over batches weighted by batch size, the metrics
as weighted means over samples (see `metrics.Mean`); masked time steps count in neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from typing import Any

import torch

from .. import activations, distributed, mixed_precision
from . import losses as losses_module
from . import metrics as metrics_module
from .compile import Setup

# a crossentropy and the activation whose logits it can take instead of probabilities
_LOGIT_PAIRS = {
    losses_module.sparse_categorical_crossentropy: "softmax",
    losses_module.categorical_crossentropy: "softmax",
    losses_module.binary_crossentropy: "sigmoid",
}

Trackers = metrics_module.Tally


if TYPE_CHECKING:
    from .trainer import Trainer


def logit_activations(model: Trainer, setup: Setup) -> list[Any]:
    """Per output: the softmax/sigmoid its layer applies last when its loss can take the logits
    under it instead (computed stably), else None."""
    found = []
    for output, activation in zip(setup.outputs, model.output_activations()):
        wanted = _LOGIT_PAIRS.get(output.loss_fn)  # type: ignore[arg-type]
        found.append(activation if wanted is not None and activation is activations.get(wanted) else None)
    return found


def new_trackers(setup: Setup) -> Trackers:
    finalize = {name: getattr(metric, "finalize", None) for o in setup.outputs for name, metric in o.metrics}
    return metrics_module.Tally({name: metrics_module.RunningMean(finalize.get(name)) for name in setup.names})


class Step:
    """The train and test steps of one compiled model (metric functions are chosen by the
    shapes of the first batch, and kept)."""

    def __init__(self, model: Trainer, setup: Setup) -> None:
        self.model, self.setup = model, setup
        self._metric_fns: list[list[tuple[str, metrics_module.MetricFn]]] | None = None

    def forward_loss(
        self, xs: list[torch.Tensor], ys: list[torch.Tensor], weights: list[torch.Tensor | None] | None, training: bool,
        replicas: distributed.Replicas | None = None,
    ) -> tuple[torch.Tensor, list[torch.Tensor | None], list[torch.Tensor], list[torch.Tensor | None]]:
        """The batch's loss (with the model's penalties), each output's own loss (None without
        one), the predictions as probabilities, and each output's mask where it has one the
        shape of its per-step losses. With `replicas` the forward runs through
        DistributedDataParallel, whose backward averages the gradients."""
        model, setup = self.model, self.setup
        logit_acts = logit_activations(model, setup)
        flags = [a is not None for a in logit_acts]
        run = model.run if replicas is None else replicas.forward
        outs, masks = run(xs, training=training, logits=flags)
        # a mixed-precision model's float16/bfloat16 outputs: losses and metrics in float32, as in Keras
        low = mixed_precision.LOW_PRECISION
        outs = [o.to(model.compute_dtype) if isinstance(o, torch.Tensor) and o.dtype in low else o for o in outs]
        total: torch.Tensor | None = None
        per_output: list[torch.Tensor | None] = []
        predictions, kept_masks = [], []
        for i, (spec, out, mask) in enumerate(zip(setup.outputs, outs, masks)):
            activation = logit_acts[i]
            predictions.append(out.detach() if activation is None else activation(out.detach()))
            if spec.loss_fn is None:
                per_output.append(None)
                kept_masks.append(mask)
                continue
            if activation is not None:
                values = spec.loss_fn(ys[i], out, from_logits=True, clip=True)  # type: ignore[call-arg]
            else:
                values = spec.loss_fn(ys[i], out)
            if mask is not None and tuple(mask.shape) != tuple(values.shape):
                mask = None  # e.g. a user's loss that reduces over time itself
            kept_masks.append(mask)
            weight = None if weights is None else weights[i]
            weight = weight if mask is None else losses_module.masked_weights(mask, weight, values.dtype)
            loss = losses_module.reduce(values, weight)
            per_output.append(loss)
            term = loss if spec.weight == 1.0 else loss * spec.weight
            total = term if total is None else total + term
        if total is None:
            raise ValueError("No output of the model has a loss: compile with loss=... for at least one output")
        penalties = model.losses
        if penalties:
            total = total + torch.stack([p.to(total.dtype) for p in penalties]).sum()
        return total, per_output, predictions, kept_masks

    def update_metrics(
        self, trackers: Trackers, loss: torch.Tensor, per_output: list[torch.Tensor | None], ys: list[torch.Tensor],
        predictions: list[torch.Tensor], masks: list[torch.Tensor | None], replicas: distributed.Replicas | None = None,
    ) -> None:
        """Adds the batch's figures to `trackers`, where they wait on the device until read."""
        setup = self.setup
        if self._metric_fns is None:
            self._metric_fns = [
                [(name, metrics_module.get(identifier, tuple(y.shape), tuple(p.shape))) for name, identifier in o.metrics]
                for o, y, p in zip(setup.outputs, ys, predictions)
            ]
        batch_size = float(ys[0].shape[0])
        sums = [metrics_module.RunningMean.sums(loss.detach(), weight=batch_size)]
        if len(setup.outputs) > 1:
            for value in per_output:
                sums.append(metrics_module.RunningMean.sums(
                    (value if value is not None else loss.new_zeros(())).detach(), weight=batch_size))
        # Keras weighs the loss by sample_weight but not the metrics; masked steps count in neither
        for fns, y, p, mask in zip(self._metric_fns, ys, predictions, masks):
            for _, fn in fns:
                sums.append(metrics_module.RunningMean.sums(fn(y, p), None if mask is None else mask.to(p.dtype)))
        batch = torch.stack(sums)  # (figures, 2): Σ value·weight, Σ weight
        if replicas is not None:
            batch = replicas.sum(batch)  # the global batch's figures, the same on every rank (on the device)
        trackers.add(batch)

    def train(
        self, trackers: Trackers, xs: list[torch.Tensor], ys: list[torch.Tensor], weights: list[torch.Tensor | None] | None,
        replicas: distributed.Replicas | None = None,
    ) -> None:
        model, optimizer = self.model, self.setup.optimizer
        if not model.training:  # (setting the flag walks every module: a step's host time on a GPU)
            model.train()
        loss, per_output, predictions, masks = self.forward_loss(xs, ys, weights, training=True, replicas=replicas)
        model.bind_optimizer()  # a model built by this very call gets its optimizer now
        optimizer.zero_grad(set_to_none=True)
        optimizer.scale_loss(loss).backward()  # the loss itself, or scaled (LossScaleOptimizer)
        optimizer.step()
        model.apply_constraints()
        self.update_metrics(trackers, loss, per_output, ys, predictions, masks, replicas)

    @torch.no_grad()
    def test(
        self, trackers: Trackers, xs: list[torch.Tensor], ys: list[torch.Tensor], weights: list[torch.Tensor | None] | None,
    ) -> None:
        loss, per_output, predictions, masks = self.forward_loss(xs, ys, weights, training=False)
        self.update_metrics(trackers, loss, per_output, ys, predictions, masks)
