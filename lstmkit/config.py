"""Library-wide settings the layers read: where convolution and pooling layers expect channels,
and on which device layers create their weights.

Keras keeps this in `keras.backend` (`image_data_format()`, `set_image_data_format()`); lstmkit's
`keras.backend` (`lstmkit.compat.backend`) reads and writes it here, so that the layers below it
need no compatibility module.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ._checks import one_of
from .mixed_precision import dtype_policy as dtype_policy
from .mixed_precision import set_dtype_policy as set_dtype_policy

_image_data_format = ["channels_last"]


def image_data_format() -> str:
    """"channels_last" (Keras's default) or "channels_first": where convolution and pooling
    layers built without `data_format=` expect the channels."""
    return _image_data_format[0]


def set_image_data_format(data_format: str) -> None:
    _image_data_format[0] = one_of("data_format", data_format, ("channels_last", "channels_first"))


# ---- where layers create their weights ---------------------------------------------------------
#
# Keras puts a program's weights on the first GPU it sees, without a word about devices in the
# program. lstmkit does the same: each layer takes `current_device()` when it is created, and
# `fit`, `evaluate` and `predict` move each batch to the model's device. Who decides, first to last:
# `set_device(...)` in the program, `tf.config.set_visible_devices(...)` (no GPU in the list: the
# CPU), `$LSTMKIT_DEVICE`, then the rule: the first CUDA device torch sees (`CUDA_VISIBLE_DEVICES`
# is torch's), else the CPU.

_requested_device: list[torch.device | None] = [None]
_visible_gpus: list[tuple[int, ...] | None] = [None]  # None: every GPU; (): none (tf.config hid them)


def parse_device(value: Any, argument: str) -> torch.device | None:
    """A device setting as a torch.device; None for "auto" (the rule). Raises ValueError naming
    `argument` for anything torch does not call a device."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    if isinstance(value, torch.device):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        text = {"gpu": "cuda"}.get(text, text.replace("gpu:", "cuda:"))
        try:
            return torch.device(text)
        except RuntimeError:
            pass
    raise ValueError(f"{argument} must be 'auto', 'cpu', 'cuda' or 'cuda:N' (any torch device), got {value!r}")


def choose_device(requested: torch.device | None, environment: str | None, visible_gpus: tuple[int, ...] | None,
                  cuda_count: int, local_rank: int = 0, local_world: int = 1,
                  requested_by: str = "lstmkit.config.set_device") -> torch.device:
    """Where a new layer's weights go: `requested` (from `set_device`; None: not set), else the
    GPUs `tf.config.set_visible_devices` left (None: all; (): none, so the CPU), else
    `environment` ($LSTMKIT_DEVICE; None or "auto": not set), else a CUDA device of
    `cuda_count` (the first the program may see; under torchrun, rank `local_rank`'s of them,
    or the CPU for every rank when the `local_world` ranks outnumber the GPUs), else the CPU. A
    CUDA device asked for that is not there is an error naming who asked for it (`requested_by`
    for `requested`)."""
    chosen, source = requested, requested_by
    if chosen is None and visible_gpus == ():
        return torch.device("cpu")
    if chosen is None:
        chosen, source = parse_device(environment, "$LSTMKIT_DEVICE"), "$LSTMKIT_DEVICE"
    if chosen is None:
        if cuda_count == 0 or local_world > len(visible_gpus or range(cuda_count)):
            return torch.device("cpu")
        chosen, source = torch.device("cuda"), ""
    if chosen.type != "cuda":
        return chosen
    index = chosen.index
    if index is None:  # "cuda": the first GPU the program may see (each torchrun rank its own)
        allowed = visible_gpus if visible_gpus else tuple(range(max(cuda_count, 1)))
        index = allowed[local_rank % len(allowed)]
    if index >= cuda_count:
        sees = f"torch sees {cuda_count} CUDA device{'s' * (cuda_count != 1)}" if cuda_count else \
            f"torch sees no CUDA device (torch {torch.__version__}, CUDA_VISIBLE_DEVICES=" \
            f"{os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')!r})"
        raise ValueError(f"{source} asks for {chosen}, but {sees}")
    return torch.device("cuda", index)


def current_device() -> torch.device:
    """The device new layers create their weights on (see the rule above this function)."""
    rank, world = os.environ.get("LOCAL_RANK", "0"), os.environ.get("LOCAL_WORLD_SIZE", "1")
    return choose_device(_requested_device[0], os.environ.get("LSTMKIT_DEVICE"), _visible_gpus[0],
                         torch.cuda.device_count(), int(rank) if rank.isdigit() else 0,
                         int(world) if world.isdigit() else 1)


def set_device(device: Any) -> None:
    """Puts the layers created from now on `device` ("cpu", "cuda", "cuda:1", a torch.device;
    "auto" or None: back to the rule). Checked at once: a CUDA device torch does not see is a
    ValueError."""
    chosen = parse_device(device, "device")
    if chosen is not None:
        choose_device(chosen, None, None, torch.cuda.device_count())
    _requested_device[0] = chosen


def requested_device() -> torch.device | None:
    """What `set_device` last set (None: the rule decides)."""
    return _requested_device[0]


def get_device() -> torch.device:
    """Keras-style reading of the setting: the device new layers go to."""
    return current_device()


def set_visible_gpus(indices: Any) -> None:
    """The GPUs a program may use, as `tf.config.set_visible_devices` leaves them: a sequence of
    CUDA indices (empty: none, the CPU), or None for all."""
    _visible_gpus[0] = None if indices is None else tuple(int(i) for i in indices)


def visible_gpus() -> tuple[int, ...] | None:
    return _visible_gpus[0]
