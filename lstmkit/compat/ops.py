"""`keras.ops` for the tensor code Keras 3 programs write in their own layers, losses and
`Lambda`s (`ops.mean(x, axis=1)`, `ops.matmul`, `ops.expand_dims`, ...), on torch tensors.

The names `lstmkit.backend` has are those functions; `convert_to_tensor`, `convert_to_numpy`,
`transpose(x, axes)`, `matmul`, `where`, `one_hot`, `zeros`, `ones`, `arange` and `repeat` are
defined here; any other name is torch's function of that name, its `axis=` / `keepdims=`
arguments passed as torch's `dim=` / `keepdim=`. A name torch lacks raises an AttributeError
that names it.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import backend
from .backend import (abs, argmax, argmin, cast, clip, concatenate, exp, expand_dims, log, max, maximum, mean,  # noqa: F401
                      min, minimum, prod, relu, reshape, round, sigmoid, sign, softmax, sqrt, square, squeeze,
                      stack, std, sum, tanh, var)


def convert_to_tensor(x: Any, dtype: str | None = None) -> torch.Tensor:
    t = backend._t(x)
    return t if dtype is None else t.to(getattr(torch, dtype))


def convert_to_numpy(x: Any) -> np.ndarray:
    return backend.get_value(x)


def matmul(a: Any, b: Any) -> torch.Tensor:
    return torch.matmul(backend._t(a), backend._t(b))


def transpose(x: Any, axes: Sequence[int] | None = None) -> torch.Tensor:
    t = backend._t(x)
    return t.permute(*(axes if axes is not None else reversed(range(t.dim()))))


def where(condition: Any, x: Any = None, y: Any = None) -> Any:
    c = backend._t(condition).bool()
    return torch.nonzero(c, as_tuple=True) if x is None else torch.where(c, backend._t(x), backend._t(y))


def one_hot(x: Any, num_classes: int, axis: int = -1, dtype: str = "float32") -> torch.Tensor:
    out = F.one_hot(backend._t(x).long(), num_classes).to(getattr(torch, dtype))
    return out if axis == -1 else out.movedim(-1, axis)


def zeros(shape: Any, dtype: str = "float32") -> torch.Tensor:
    return torch.zeros(tuple(shape) if not isinstance(shape, int) else (shape,), dtype=getattr(torch, dtype))


def ones(shape: Any, dtype: str = "float32") -> torch.Tensor:
    return torch.ones(tuple(shape) if not isinstance(shape, int) else (shape,), dtype=getattr(torch, dtype))


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: str | None = None) -> torch.Tensor:
    t = torch.arange(start, stop, step) if stop is not None else torch.arange(start)
    return t if dtype is None else t.to(getattr(torch, dtype))


def repeat(x: Any, repeats: int, axis: int | None = None) -> torch.Tensor:
    t = backend._t(x)
    return torch.repeat_interleave(t.reshape(-1) if axis is None else t, repeats, dim=axis)


def _renamed(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        if "axis" in kwargs:
            kwargs["dim"] = kwargs.pop("axis")
        if "keepdims" in kwargs:
            kwargs["keepdim"] = kwargs.pop("keepdims")
        return fn(*(backend._t(a) if isinstance(a, np.ndarray) else a for a in args), **kwargs)

    return call


def __getattr__(name: str) -> Any:
    found = getattr(torch, name, None) if not name.startswith("_") else None
    if callable(found):
        return _renamed(found)
    raise AttributeError(f"keras.ops.{name} is not provided by lstmkit.ops (nor is torch.{name} a function to stand "
                         "in for it): write it with torch")
