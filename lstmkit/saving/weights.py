"""A model's weights in a file: the names and shapes they must have, and loading them.

Everything here takes a `torch.nn.Module` (with a `name` and a `built` flag, as lstmkit's models
have): weights are its `state_dict()` entries, stored as `weights.<key>`. Nothing here knows a
model class.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable, Mapping

import torch
from torch import nn

from .._io import atomic_write
from .._version import __version__
from .archive import ITEM_BYTES, WEIGHTS_FORMAT, Declared, DoesNotFit, encode_tensors, read_file, write_file

PREFIX = "weights."
MAX_STATE_BYTES = 64 << 20  # a checkpoint's run state beside the weights: generator states, a few figures


def weights_of(module: nn.Module) -> dict[str, torch.Tensor]:
    """The module's weights and buffers under the names a file stores them by."""
    return {f"{PREFIX}{key}": value for key, value in module.state_dict().items()}


def require_built(module: Any, method: str) -> None:
    if not module.built:
        raise ValueError(
            f"Model {module.name!r} is not built, so it has no weights for {method}: give it an input shape "
            "or call it on data first"
        )


def check_names_and_shapes(
    stored: Mapping[str, tuple[int, ...]], expected: Mapping[str, tuple[int, ...]], path: str | os.PathLike[str],
    model_name: str,
) -> None:
    """Raises DoesNotFit unless `stored` has exactly the names of `expected`, with its shapes."""
    missing, unexpected = sorted(set(expected) - set(stored)), sorted(set(stored) - set(expected))
    if missing or unexpected:
        parts = [f"missing {', '.join(missing)}" if missing else "",
                 f"not in the model: {', '.join(unexpected)}" if unexpected else ""]
        raise DoesNotFit(f"The weights in {os.fspath(path)!r} do not fit model {model_name!r}: "
                         + "; ".join(part for part in parts if part))
    for key, shape in stored.items():
        if tuple(shape) != tuple(expected[key]):
            raise DoesNotFit(
                f"The weight {key} in {os.fspath(path)!r} has shape {tuple(shape)}; "
                f"model {model_name!r} has {tuple(expected[key])} there"
            )


def fits_module(module: nn.Module, path: str, name: str) -> Callable[[dict[str, Any], Declared], None]:
    """A `read_archive` check against a built module: the stored weights have its names and
    shapes, each optimizer tensor the shape of its weight, and the rest (a checkpoint's run state)
    stays small, so that what a file makes lstmkit inflate is bounded by the model's own size."""
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    params = [tuple(p.shape) for p in module.parameters()]

    def check(header: dict[str, Any], declared: Declared) -> None:
        stored = {k[len(PREFIX):]: shape for k, (_, shape) in declared.items() if k.startswith(PREFIX)}
        check_names_and_shapes(stored, expected, path, name)
        other = 0
        for key, (dtype, shape) in declared.items():
            if key.startswith("optimizer."):
                index = key.split(".")[1]
                if not index.isdigit() or int(index) >= len(params) or shape != params[int(index)]:
                    raise DoesNotFit(f"Cannot load {path!r}: the optimizer tensor {key!r} of shape {shape} fits none of "
                                     "the model's weights")
            elif not key.startswith(PREFIX):
                other += math.prod(shape) * ITEM_BYTES[dtype]
        if other > MAX_STATE_BYTES:
            raise DoesNotFit(f"Cannot load {path!r}: it holds {other:,} bytes of tensors beside the weights and optimizer "
                             f"state, above the limit of {MAX_STATE_BYTES:,}")

    return check


def load_weights_into(module: Any, tensors: Mapping[str, torch.Tensor], path: str | os.PathLike[str]) -> None:
    """Copies the `weights.*` tensors into `module`, after checking names, shapes and dtypes
    (float64 weights turn the module to float64)."""
    saved = {key[len(PREFIX):]: value for key, value in tensors.items() if key.startswith(PREFIX)}
    expected = module.state_dict()
    check_names_and_shapes({k: tuple(v.shape) for k, v in saved.items()},
                           {k: tuple(v.shape) for k, v in expected.items()}, path, module.name)
    for key, value in saved.items():
        if not value.is_floating_point():  # int8, bool, complex: casting would lose or invent values
            raise ValueError(f"The weight {key} in {os.fspath(path)!r} is stored as {str(value.dtype).replace('torch.', '')}; "
                             f"lstmkit weights are floating point (float32 or float64)")
    if any(v.dtype == torch.float64 for v in saved.values()):
        module.double()
    module.load_state_dict(saved)


def save_weights(module: Any, path: str | os.PathLike[str], overwrite: bool = True) -> None:
    """Writes the module's weights alone, as a bare safetensors file."""
    require_built(module, "save_weights")
    data = encode_tensors(weights_of(module), {"format": WEIGHTS_FORMAT, "lstmkit_version": __version__})
    write_file(path, lambda p: atomic_write(p, data), overwrite)


def load_weights(module: Any, path: str | os.PathLike[str]) -> None:
    """Loads weights from a `save_weights` or `save` file into a built module of the same architecture."""
    require_built(module, "load_weights")
    tensors, _ = read_file(path)
    load_weights_into(module, tensors, path)
