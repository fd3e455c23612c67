"""`tf.random`: `set_seed` (seeds torch, NumPy, Python and the pipelines' shuffles), and draws
from torch's generator: `uniform`, `normal`, `truncated_normal`, `categorical`, `shuffle`."""

from __future__ import annotations

import random as _random
from typing import Any

import numpy as np
import torch

from ... import _threads
from ...data import dataset as _dataset
from ._tensors import _int, _ints, dtype_of, t

__all__ = ["set_seed", "uniform", "normal", "truncated_normal", "categorical", "shuffle"]


def set_seed(seed: int) -> None:
    """Makes a program's random draws repeatable: torch's, NumPy's and Python's generators, and
    the shuffles of datasets made after it without a seed of their own."""
    seed = int(seed)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    _random.seed(seed)
    _dataset.set_global_seed(seed)
    _threads.pin()  # repeatable numbers: the thread count stays fixed


def _generator(seed: Any) -> torch.Generator | None:
    return None if seed is None else torch.Generator().manual_seed(int(seed))


def uniform(shape: Any, minval: Any = 0, maxval: Any = None, dtype: Any = torch.float32, seed: Any = None,
            name: str | None = None) -> torch.Tensor:
    """Floats in [minval, maxval) (maxval default 1); integer dtypes need maxval."""
    dtype = dtype_of(dtype)
    gen = _generator(seed)
    if not dtype.is_floating_point:
        if maxval is None:
            raise ValueError("uniform with an integer dtype needs maxval")
        return torch.randint(_int(minval), _int(maxval), _ints(shape), generator=gen, dtype=dtype)
    low, high = float(t(minval)), 1.0 if maxval is None else float(t(maxval))
    return torch.rand(_ints(shape), generator=gen, dtype=dtype) * (high - low) + low


def normal(shape: Any, mean: Any = 0.0, stddev: Any = 1.0, dtype: Any = torch.float32, seed: Any = None,
           name: str | None = None) -> torch.Tensor:
    return torch.randn(_ints(shape), generator=_generator(seed), dtype=dtype_of(dtype)) * float(t(stddev)) + float(t(mean))


def truncated_normal(shape: Any, mean: Any = 0.0, stddev: Any = 1.0, dtype: Any = torch.float32, seed: Any = None,
                     name: str | None = None) -> torch.Tensor:
    """Normal draws redrawn until within two standard deviations of the mean."""
    out = torch.empty(_ints(shape), dtype=dtype_of(dtype))
    torch.nn.init.trunc_normal_(out, mean=float(t(mean)), std=float(t(stddev)), a=float(t(mean)) - 2 * float(t(stddev)),
                                b=float(t(mean)) + 2 * float(t(stddev)), generator=_generator(seed))
    return out


def categorical(logits: Any, num_samples: Any, dtype: Any = torch.int64, seed: Any = None,
                name: str | None = None) -> torch.Tensor:
    """`num_samples` class ids per row of `logits` (unnormalised log-probabilities), shape
    (batch, num_samples)."""
    z = t(logits).float()
    if z.dim() != 2:
        raise ValueError(f"categorical takes logits of shape (batch, classes), got shape {tuple(z.shape)}")
    probs = torch.softmax(z, dim=-1)
    return torch.multinomial(probs, _int(num_samples), replacement=True, generator=_generator(seed)).to(dtype_of(dtype))


def shuffle(value: Any, seed: Any = None, name: str | None = None) -> Any:
    """The rows of `value` (its first axis) in a random order."""
    x = t(value)
    order = torch.randperm(len(x), generator=_generator(seed))
    return x[order.numpy()] if isinstance(x, np.ndarray) else x[order]
