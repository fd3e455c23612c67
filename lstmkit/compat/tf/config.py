"""`tf.config`: the devices a program sees. The CPU is always there, and each CUDA device torch
sees is a "GPU"; memory growth is torch's behaviour already (it allocates as it goes), so
`set_memory_growth` has nothing to change. `set_visible_devices` tells lstmkit's device rule
(`lstmkit.config.current_device`) which GPUs the program may use: with none in the list, the
layers stay on the CPU; with some, they go to the first of them."""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any

import torch

from ... import config as lstmkit_config

__all__ = ["list_physical_devices", "list_logical_devices", "set_visible_devices", "get_visible_devices",
           "experimental", "run_functions_eagerly", "threading", "optimizer"]


@dataclass(frozen=True)
class PhysicalDevice:
    name: str
    device_type: str


def list_physical_devices(device_type: str | None = None) -> list[PhysicalDevice]:
    devices = [PhysicalDevice("/physical_device:CPU:0", "CPU")]
    devices += [PhysicalDevice(f"/physical_device:GPU:{i}", "GPU") for i in range(torch.cuda.device_count())]
    return [d for d in devices if device_type is None or d.device_type == device_type.upper()]


def list_logical_devices(device_type: str | None = None) -> list[PhysicalDevice]:
    return [PhysicalDevice(d.name.replace("physical_device", "device"), d.device_type)
            for d in get_visible_devices(device_type)]


def _gpu_index(device: PhysicalDevice) -> int:
    return int(device.name.rsplit(":", 1)[1])


def get_visible_devices(device_type: str | None = None) -> list[PhysicalDevice]:
    visible = lstmkit_config.visible_gpus()
    return [d for d in list_physical_devices(device_type)
            if d.device_type != "GPU" or visible is None or _gpu_index(d) in visible]


def set_visible_devices(devices: Any, device_type: str | None = None) -> None:
    """The devices the program may use, TensorFlow's way: `set_visible_devices([], "GPU")` keeps
    everything on the CPU; `set_visible_devices(gpus[1], "GPU")` uses that GPU alone. Only GPUs
    from `list_physical_devices` are taken."""
    chosen = list(devices) if isinstance(devices, (list, tuple)) else [devices]
    for d in chosen:
        if not isinstance(d, PhysicalDevice):
            raise ValueError(f"set_visible_devices takes devices from tf.config.list_physical_devices(), got {d!r}")
    if device_type is None or device_type.upper() == "GPU":
        lstmkit_config.set_visible_gpus([_gpu_index(d) for d in chosen if d.device_type == "GPU"])


def set_memory_growth(device: Any, enable: bool) -> None:
    """Nothing to do: torch's caching allocator grows as it needs already."""


def get_memory_growth(device: Any) -> bool:
    return True


def set_virtual_device_configuration(device: Any, configs: Any) -> None:
    """Accepted; torch does not split a GPU into virtual ones."""


def run_functions_eagerly(run_eagerly: bool) -> None:
    """Functions always run eagerly here."""


def set_soft_device_placement(enabled: bool) -> None:
    """Accepted."""


experimental = types.SimpleNamespace(
    list_physical_devices=list_physical_devices, set_memory_growth=set_memory_growth,
    get_memory_growth=get_memory_growth, set_visible_devices=set_visible_devices,
    list_logical_devices=list_logical_devices, set_virtual_device_configuration=set_virtual_device_configuration,
    VirtualDeviceConfiguration=lambda memory_limit=None: {"memory_limit": memory_limit},
    enable_mlir_graph_optimization=lambda: None,
)
set_logical_device_configuration = set_virtual_device_configuration
LogicalDeviceConfiguration = experimental.VirtualDeviceConfiguration


def _set_threads(count: int) -> None:
    if int(count) > 0:
        torch.set_num_threads(int(count))


threading = types.SimpleNamespace(
    set_intra_op_parallelism_threads=_set_threads, set_inter_op_parallelism_threads=lambda count: None,
    get_intra_op_parallelism_threads=torch.get_num_threads, get_inter_op_parallelism_threads=lambda: 0,
)
optimizer = types.SimpleNamespace(set_jit=lambda enabled: None, set_experimental_options=lambda options: None)
