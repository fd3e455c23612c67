"""What a model file holds beside the weights: the architecture, the compile settings and the
optimizer's state; and putting the last two back into a rebuilt model.

The header (see `lstmkit.saving.archive` for the file around it):

    model_config      {"class_name", "config"}: the model's `get_config()`
    compile_config    when compiled: optimizer class and settings, the loss, loss_weights and
                      metrics as `compile` was given them (functions of the user's by name)
    optimizer_state   when the optimizer is built: its iteration count, learning rate and
                      torch's param_groups; its per-weight tensors are `optimizer.<index>.<name>`
    extras            JSON values the program kept beside the model (`load_extras` reads them)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import json
from typing import Any, Mapping

import torch

from .. import serialization
from .._version import __version__
from ..saving.archive import JSON_MEMBER, MODEL_FORMAT, refuse
from ..saving.weights import require_built, weights_of
from . import optimizers


if TYPE_CHECKING:
    from .trainer import Trainer


def model_state(model: Trainer, extras: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The header and tensors that `model.save` writes: architecture, compile settings,
    weights and optimizer state."""
    require_built(model, "save")
    tensors = weights_of(model)
    header: dict[str, Any] = {
        "format": MODEL_FORMAT,
        "lstmkit_version": __version__,
        "model_config": {"class_name": type(model).__name__, "config": serialization.to_json(model.get_config(), "model config")},
    }
    if extras is not None:
        if not isinstance(extras, Mapping) or not all(isinstance(k, str) for k in extras):
            raise ValueError(f"extras must be a dict with string keys, got extras={extras!r:.200}")
        try:
            header["extras"] = json.loads(json.dumps(dict(extras)))
        except (TypeError, ValueError) as err:
            raise ValueError(f"extras must hold JSON values only (strings, numbers, lists, dicts): {err}") from None
    setup = model.compile_setup
    if setup is not None:
        config = setup.config()
        header["compile_config"] = {
            "optimizer": config["optimizer"],
            "loss": serialization.to_json(config["loss"], "loss"),
            "loss_weights": serialization.to_json(config["loss_weights"], "loss_weights"),
            "metrics": serialization.to_json(config["metrics"], "metrics"),
        }
        optimizer = setup.optimizer
        if optimizer.built:
            state = optimizer.state_dict()
            for index, per_param in state["state"].items():
                for name, value in per_param.items():
                    tensors[f"optimizer.{index}.{name}"] = torch.as_tensor(value)
            header["optimizer_state"] = {"param_groups": state["param_groups"], "keras": state["keras"]}
    return header, tensors


def field(header: Mapping[str, Any], key: str, path: str, kind: type = dict) -> Any:
    """`header[key]`, which must be a `kind`; a ValueError naming the file otherwise."""
    if key not in header:
        raise refuse(path, f"{JSON_MEMBER} lacks the key {key!r}")
    value = header[key]
    if not isinstance(value, kind):
        raise refuse(path, f"{JSON_MEMBER}[{key!r}] should be a {kind.__name__}, got {type(value).__name__}")
    return value


def restore_compile(
    model: Trainer, header: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], path: str,
    custom_objects: Mapping[str, Any] | None,
) -> None:
    """Compiles `model` as the header's compile settings say and loads the optimizer's state."""
    setup = field(header, "compile_config", path)
    try:
        name = setup["optimizer"]["class_name"]
        optimizer_cls = optimizers.class_named(name)
        metrics = serialization.from_json(setup["metrics"], custom_objects)
        model.compile(
            optimizer=optimizer_cls(**setup["optimizer"]["config"]),
            loss=serialization.from_json(setup["loss"], custom_objects),
            metrics=metrics,
            loss_weights=serialization.from_json(setup.get("loss_weights"), custom_objects),
        )
    except (TypeError, KeyError, ValueError) as err:
        raise refuse(path, f"the compile settings in {JSON_MEMBER} are not valid ({type(err).__name__}: {err})") from None
    if "optimizer_state" in header:
        load_optimizer_state(model, header, tensors, path)


def load_optimizer_state(model: Trainer, header: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], path: str) -> None:
    """Puts the saved optimizer state into `model`'s (compiled) optimizer."""
    assert model.optimizer is not None
    model.bind_optimizer()
    state = field(header, "optimizer_state", path)
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            try:
                _, index, name = key.split(".", 2)
                per_param.setdefault(int(index), {})[name] = value.to(model.device)
            except ValueError:
                raise refuse(path, f"tensor name {key!r} is not optimizer.<index>.<name>") from None
    try:
        model.optimizer.load_state_dict({"state": per_param, **state})
    except (TypeError, KeyError, ValueError, RuntimeError) as err:
        raise refuse(path, f"the optimizer state does not fit the model's optimizer ({type(err).__name__}: {err})") from None
