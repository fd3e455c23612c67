"""Activation functions, looked up by Keras's names.

Each is also a function of this module under its name (`keras.activations.relu(x)`, with Keras's
`negative_slope`, `max_value`, `threshold`). `get("tanh")` returns a function from tensor to tensor; `get(None)` is the identity, and any
callable passes through unchanged, so a layer can take either a name or a function.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Union

import torch
import torch.nn.functional as F

Activation = Callable[[torch.Tensor], torch.Tensor]
ActivationLike = Union[str, Activation, None]

# SELU's constants (Klambauer et al. 2017), the values Keras uses.
_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def _t(x: Any) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=torch.float32)


def relu(x: Any, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0) -> torch.Tensor:
    """Keras's `relu`: x from `threshold` up to `max_value`, `negative_slope` · (x - threshold)
    below the threshold.

    >>> relu(torch.tensor([-3.0, 0.0, 2.0, 7.0]), negative_slope=0.1, max_value=5.0, threshold=0.5).tolist()
    [-0.3499999940395355, -0.05000000074505806, 2.0, 5.0]
    """
    x = _t(x)
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return torch.relu(x)
    out = torch.where(x >= threshold, x, negative_slope * (x - threshold))
    return out if max_value is None else torch.clamp(out, max=float(max_value))


def sigmoid(x: Any) -> torch.Tensor:
    return torch.sigmoid(_t(x))


def tanh(x: Any) -> torch.Tensor:
    return torch.tanh(_t(x))


def softplus(x: Any) -> torch.Tensor:
    return F.softplus(_t(x))


def exponential(x: Any) -> torch.Tensor:
    return torch.exp(_t(x))


def log_sigmoid(x: Any) -> torch.Tensor:
    return F.logsigmoid(_t(x))


def linear(x: torch.Tensor) -> torch.Tensor:
    return x


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    # Keras 3's definition: 0 below -3, 1 above 3, x / 6 + 1/2 between (Keras 2 used 0.2 x + 0.5).
    return torch.clamp(x / 6.0 + 0.5, 0.0, 1.0)


def hard_silu(x: torch.Tensor) -> torch.Tensor:
    return x * hard_sigmoid(x)


def selu(x: torch.Tensor) -> torch.Tensor:
    return _SELU_SCALE * torch.where(x > 0, x, _SELU_ALPHA * torch.expm1(x))


def softsign(x: torch.Tensor) -> torch.Tensor:
    return x / (1.0 + x.abs())


def silu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


def gelu(x: torch.Tensor) -> torch.Tensor:
    # Keras's default is the exact form, 0.5 x (1 + erf(x / sqrt 2)).
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def leaky_relu(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x > 0, x, 0.2 * x)  # Keras's default negative_slope=0.2


def relu6(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(x, 0.0, 6.0)


def elu(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x > 0, x, torch.expm1(x))


def mish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.tanh(F.softplus(x))


def softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=-1)


def log_softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(x, dim=-1)


def tanh_shrink(x: torch.Tensor) -> torch.Tensor:
    return x - torch.tanh(x)


def hard_tanh(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(x, -1.0, 1.0)


_REGISTRY: dict[str, Activation] = {
    "linear": linear,
    "tanh": tanh,
    "sigmoid": sigmoid,
    "hard_sigmoid": hard_sigmoid,
    "relu": relu,
    "relu6": relu6,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "selu": selu,
    "celu": elu,  # Keras's celu with its default alpha=1 is elu
    "softplus": softplus,
    "softsign": softsign,
    "swish": silu,
    "silu": silu,
    "hard_silu": hard_silu,
    "hard_swish": hard_silu,
    "gelu": gelu,
    "mish": mish,
    "exponential": exponential,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "log_sigmoid": log_sigmoid,
    "tanh_shrink": tanh_shrink,
    "hard_tanh": hard_tanh,
}


def __getattr__(name: str) -> Activation:
    """Keras's other names as functions too (`activations.swish`, `activations.hard_swish`, ...)."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    raise AttributeError(f"module 'lstmkit.activations' has no attribute {name!r}; activations: {', '.join(names())}")


def names() -> list[str]:
    """The activation names `get` understands, sorted."""
    return sorted(_REGISTRY)


def get(identifier: ActivationLike) -> Activation:
    """Resolves an activation name or callable to a function.

    Args:
        identifier: A Keras activation name such as `"tanh"`, a callable, or None for linear.

    Returns:
        A function mapping a tensor to a tensor of the same shape.

    Raises:
        ValueError: For an unknown name or a value that is neither a name nor callable.

    >>> get("hard_sigmoid")(torch.tensor([-4.0, 0.0, 1.5, 4.0]))
    tensor([0.0000, 0.5000, 0.7500, 1.0000])
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = _REGISTRY.get(identifier)
        if fn is None:
            raise ValueError(
                f"Unknown activation {identifier!r}. Known names: {', '.join(names())}; "
                "or pass any callable."
            )
        return fn
    if callable(identifier):
        return identifier
    raise ValueError(
        f"Expected an activation name or a callable, got {identifier!r} "
        f"of type {type(identifier).__name__}"
    )


def serialize(fn: Activation) -> str | Activation:
    """The registry name of `fn` when it has one, else `fn` itself (a user's callable)."""
    for name, known in _REGISTRY.items():
        if known is fn:
            return name
    return fn
