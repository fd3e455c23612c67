"""Data in, checked against the model: what `fit`, `evaluate` and the single-batch methods give
the train and test steps.

Arrays are converted once, up front (floats to the model's dtype), checked against the model's
inputs (shapes), its outputs and losses (targets), for NaN and infinite values (unless
`model.check_finite` is off), and wrapped as `ArrayData`; a torch Dataset or DataLoader is
wrapped as `TorchData`, each of its batches going through the same checks as it arrives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from typing import Any, Mapping

import torch

from ..data.strings import StringTensor
from ..layers.base import check_finite
from . import losses as losses_module
from .compile import Setup
from .device_batches import to_device
from .data import ArrayData, TorchData, check_targets, class_weights_for, from_arrays, is_torch_data

# the losses whose targets lstmkit can check against the output's shape
_CHECKED_LOSSES = (losses_module.sparse_categorical_crossentropy, losses_module.categorical_crossentropy,
                   losses_module.binary_crossentropy, losses_module.mse, losses_module.mae, losses_module.huber)

XYW = tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor | None] | None]


if TYPE_CHECKING:
    from .trainer import Trainer


def prepare(
    model: Trainer,
    setup: Setup,
    x: Any,
    y: Any,
    sample_weight: Any,
    class_weight: Mapping[int, float] | None,
    names: tuple[str, str, str] = ("x", "y", "sample_weight"),
) -> ArrayData | TorchData:
    """Checks user data against the model and the losses, and wraps it for batching."""
    if is_torch_data(x):
        for name, value in ((names[1], y), (names[2], sample_weight)):
            if value is not None:
                raise ValueError(
                    f"{name} must be None when {names[0]} is a torch Dataset or DataLoader "
                    "(its items carry the targets and weights)"
                )
        return TorchData(x)
    if y is None:
        raise ValueError(f"{names[1]} is required with array inputs; got {names[1]}=None")
    data = from_arrays(x, y, sample_weight, input_names=model.input_names, output_names=model.output_names,
                       float_dtype=model.compute_dtype, names=names, text_inputs=model.text_inputs())
    data.x = [model.shaped_text(i, t) if isinstance(t, StringTensor) else t for i, t in enumerate(data.x)]
    model.check_inputs([tuple(t.shape) for t in data.x], names[0])
    several_in, several_out = len(data.x) > 1, len(model.output_names) > 1
    if model.check_finite:
        for name, t in zip(model.input_names, data.x):
            if isinstance(t, torch.Tensor):
                check_finite(t, f"{names[0]}[{name!r}]" if several_in else names[0])
    assert data.y is not None
    targets: list[torch.Tensor | None] = [*data.y, *(data.sample_weight or [])]
    for i, target in enumerate(targets):
        if target is not None:
            label = names[1] if i < len(data.y) else names[2]
            output = model.output_names[i % len(data.y)]
            check_finite(target, f"{label}[{output!r}]" if several_out else label, inputs=False)
    model.ensure_built_for(data.x)
    model.check_input_ids(data.x)
    data.y = [check_targets_for(model, setup, i, t, f"{names[1]}[{model.output_names[i]!r}]" if several_out else names[1])
              for i, t in enumerate(data.y)]
    if class_weight is not None:
        if len(setup.trained_outputs) != 1:
            raise ValueError(f"class_weight works for a model trained on one output; this one has {len(setup.trained_outputs)} "
                             "outputs with a loss: pass sample_weight per output instead")
        i = setup.trained_outputs[0]
        weights = class_weights_for(data.y[i], class_weight, names[1]).to(model.compute_dtype)
        if data.sample_weight is None:
            data.sample_weight = [None] * len(data.y)
        given = data.sample_weight[i]
        data.sample_weight[i] = weights if given is None else given * weights
    return data


def check_targets_for(model: Trainer, setup: Setup, index: int, y: torch.Tensor, argument: str) -> torch.Tensor:
    """Output `index`'s targets checked against its shape and loss (a user's loss decides for
    itself what targets mean)."""
    loss_fn = setup.outputs[index].loss_fn
    if loss_fn not in _CHECKED_LOSSES:
        return y
    return check_targets(y, model.output_shapes[index], sparse=loss_fn is losses_module.sparse_categorical_crossentropy,
                         argument=argument)


def batch_tensors(
    model: Trainer, setup: Setup, x: Any, y: Any, sample_weight: Any, from_loader: bool,
    class_weight: Mapping[int, float] | None = None,
) -> XYW:
    """Moves one batch to the model's device. Floats already have the model's dtype: arrays got
    it in `prepare` up front, loader batches get it here through the same checks."""
    if from_loader:
        data = prepare(model, setup, x, y, sample_weight, class_weight, names=("batch x", "batch y", "batch sample_weight"))
        assert isinstance(data, ArrayData) and data.y is not None
        x, y, sample_weight = data.x, data.y, data.sample_weight
    device = model.device
    weights = None if sample_weight is None else [None if w is None else to_device(w, device) for w in sample_weight]
    # `prepare` has checked the values (of all the arrays, or of this loader batch)
    return model.adapt_inputs(x, check=False), [to_device(t, device) for t in y], weights
