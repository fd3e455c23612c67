"""`tf.math`: element-wise arithmetic and comparisons, the `reduce_*` family, `top_k`,
`confusion_matrix`, `count_nonzero`, `l2_normalize`."""

from __future__ import annotations

from typing import Any

import torch

from ._tensors import (abs, add, add_n, argmax, argmin, ceil, cos, cumsum, divide, equal, exp, floor, floordiv,  # noqa: F401
                       greater, greater_equal, is_finite, is_inf, is_nan, less, less_equal, log, log1p, logical_and,
                       logical_not, logical_or, logical_xor, maximum, minimum, mod, multiply, negative, not_equal, pow,
                       reciprocal, reduce_all, reduce_any, reduce_logsumexp, reduce_max, reduce_mean, reduce_min,
                       reduce_prod, reduce_std, reduce_sum, reduce_variance, round, rsqrt, sigmoid, sign, sin, sqrt,
                       square, subtract, t, tan, tanh, truediv)
from .nn import l2_normalize, softmax, softplus, top_k  # noqa: F401


def squared_difference(x: Any, y: Any, name: str | None = None) -> torch.Tensor:
    return (t(x) - t(y)) ** 2


def count_nonzero(input: Any, axis: Any = None, keepdims: bool = False, dtype: Any = torch.int64,
                  name: str | None = None) -> torch.Tensor:
    x = t(input) != 0
    out = x.sum() if axis is None else x.sum(dim=axis, keepdim=keepdims)
    return out.to(dtype)


def confusion_matrix(labels: Any, predictions: Any, num_classes: Any = None, weights: Any = None, dtype: Any = torch.int32,
                     name: str | None = None) -> torch.Tensor:
    a, b = t(labels).long().reshape(-1), t(predictions).long().reshape(-1)
    n = int(num_classes) if num_classes is not None else int(max(a.max(), b.max())) + 1
    w = torch.ones_like(a, dtype=torch.float64) if weights is None else t(weights).double().reshape(-1)
    out = torch.zeros(n, n, dtype=torch.float64).index_put_((a, b), w, accumulate=True)
    return out.to(dtype)


def in_top_k(targets: Any, predictions: Any, k: int, name: str | None = None) -> torch.Tensor:
    top = torch.topk(t(predictions), int(k), dim=-1).indices
    return (top == t(targets).long().unsqueeze(-1)).any(-1)


def bincount(arr: Any, weights: Any = None, minlength: Any = None, maxlength: Any = None, dtype: Any = torch.int32,
             **kwargs: Any) -> torch.Tensor:
    out = torch.bincount(t(arr).reshape(-1).long(), minlength=int(minlength or 0))
    return out.to(dtype)
