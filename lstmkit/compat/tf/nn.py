"""`tf.nn`: activations, `top_k`, cross-entropies from logits, `dropout`, `embedding_lookup`."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from ._tensors import _int, t
from ._tensors import sigmoid, tanh  # noqa: F401

__all__ = ["softmax", "log_softmax", "relu", "relu6", "elu", "selu", "gelu", "leaky_relu", "softplus", "softsign",
           "sigmoid", "tanh", "swish", "silu", "top_k", "dropout", "l2_normalize", "embedding_lookup", "moments",
           "sparse_softmax_cross_entropy_with_logits", "softmax_cross_entropy_with_logits",
           "sigmoid_cross_entropy_with_logits", "bias_add"]


def softmax(logits: Any, axis: int = -1, name: str | None = None) -> torch.Tensor:
    return torch.softmax(t(logits), dim=axis)


def log_softmax(logits: Any, axis: int = -1, name: str | None = None) -> torch.Tensor:
    return torch.log_softmax(t(logits), dim=axis)


def relu(features: Any, name: str | None = None) -> torch.Tensor:
    return torch.relu(t(features))


def relu6(features: Any, name: str | None = None) -> torch.Tensor:
    return F.relu6(t(features))


def elu(features: Any, name: str | None = None) -> torch.Tensor:
    return F.elu(t(features))


def selu(features: Any, name: str | None = None) -> torch.Tensor:
    return F.selu(t(features))


def gelu(features: Any, approximate: bool = False, name: str | None = None) -> torch.Tensor:
    return F.gelu(t(features), approximate="tanh" if approximate else "none")


def leaky_relu(features: Any, alpha: float = 0.2, name: str | None = None) -> torch.Tensor:
    return F.leaky_relu(t(features), alpha)


def softplus(features: Any, name: str | None = None) -> torch.Tensor:
    return F.softplus(t(features))


def softsign(features: Any, name: str | None = None) -> torch.Tensor:
    return F.softsign(t(features))


def swish(features: Any, beta: float = 1.0) -> torch.Tensor:
    x = t(features)
    return x * torch.sigmoid(beta * x)


silu = swish


class TopK(NamedTuple):
    values: torch.Tensor
    indices: torch.Tensor


def top_k(input: Any, k: Any = 1, sorted: bool = True, index_type: Any = torch.int32, name: str | None = None) -> TopK:
    """The `k` largest entries of the last axis and their indices (int32), largest first."""
    found = torch.topk(t(input), _int(k), dim=-1, largest=True, sorted=True)
    return TopK(found.values, found.indices.to(index_type))


def dropout(x: Any, rate: Any = None, noise_shape: Any = None, seed: Any = None, name: str | None = None,
            keep_prob: Any = None) -> torch.Tensor:
    p = float(rate) if rate is not None else 1.0 - float(keep_prob)
    return F.dropout(t(x), p=p, training=True)


def l2_normalize(x: Any, axis: Any = None, epsilon: float = 1e-12, name: str | None = None, dim: Any = None) -> torch.Tensor:
    v = t(x)
    axis = dim if axis is None else axis
    dims = tuple(range(v.dim())) if axis is None else axis
    square_sum = (v * v).sum(dim=dims, keepdim=True)
    return v * torch.rsqrt(torch.clamp(square_sum, min=epsilon))


def embedding_lookup(params: Any, ids: Any, max_norm: Any = None, name: str | None = None) -> torch.Tensor:
    return F.embedding(t(ids).long(), t(params))


def moments(x: Any, axes: Any, shift: Any = None, keepdims: bool = False, name: str | None = None) -> tuple[Any, Any]:
    v = t(x)
    dims = tuple(axes)
    return v.mean(dim=dims, keepdim=keepdims), v.var(dim=dims, keepdim=keepdims, correction=0)


def bias_add(value: Any, bias: Any, data_format: Any = None, name: str | None = None) -> torch.Tensor:
    return t(value) + t(bias)


def sparse_softmax_cross_entropy_with_logits(labels: Any = None, logits: Any = None, name: str | None = None) -> torch.Tensor:
    """Per-example loss (no reduction), class ids against logits on the last axis."""
    z = t(logits)
    return F.cross_entropy(z.reshape(-1, z.shape[-1]), t(labels).long().reshape(-1), reduction="none").reshape(z.shape[:-1])


def softmax_cross_entropy_with_logits(labels: Any = None, logits: Any = None, axis: int = -1,
                                      name: str | None = None) -> torch.Tensor:
    return -(t(labels) * torch.log_softmax(t(logits), dim=axis)).sum(dim=axis)


def sigmoid_cross_entropy_with_logits(labels: Any = None, logits: Any = None, name: str | None = None) -> torch.Tensor:
    z = t(logits)
    return F.binary_cross_entropy_with_logits(z, t(labels).to(z.dtype), reduction="none")
