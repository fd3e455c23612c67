"""Weight and activity penalties under Keras's names: `l1`, `l2`, `l1_l2`.

A regularizer maps a tensor to a scalar penalty. Layers collect theirs in `layer.losses`
(and a model in `model.losses`); a training loop adds their sum to the loss.
"""

from __future__ import annotations

import numbers
from typing import Callable, Union

import torch

Regularizer = Callable[[torch.Tensor], torch.Tensor]
RegularizerLike = Union[str, Regularizer, None]


class L1L2:
    """penalty = l1 * sum(|w|) + l2 * sum(w²)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        for name, value in (("l1", l1), ("l2", l2)):
            if not isinstance(value, numbers.Real) or isinstance(value, bool) or value < 0:
                raise ValueError(f"Expected a non-negative number for {name}, got {name}={value!r}")
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        penalty = w.new_zeros(())
        if self.l1:
            penalty = penalty + self.l1 * w.abs().sum()
        if self.l2:
            penalty = penalty + self.l2 * w.square().sum()
        return penalty

    def __repr__(self) -> str:
        return f"L1L2(l1={self.l1}, l2={self.l2})"


def l1(l1: float = 0.01) -> L1L2:  # noqa: E743 - Keras's name
    return L1L2(l1=l1)


def l2(l2: float = 0.01) -> L1L2:
    return L1L2(l2=l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    return L1L2(l1=l1, l2=l2)


L1 = l1
L2 = l2

_REGISTRY: dict[str, Callable[[], L1L2]] = {"l1": l1, "l2": l2, "l1_l2": l1_l2}


def get(identifier: RegularizerLike) -> Regularizer | None:
    """Resolves a name (Keras's default strengths, 0.01), a callable, or None.

    >>> round(get("l2")(torch.tensor([1.0, 2.0])).item(), 6)
    0.05
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        factory = _REGISTRY.get(identifier)
        if factory is None:
            raise ValueError(f"Unknown regularizer {identifier!r}. Known names: {', '.join(sorted(_REGISTRY))}")
        return factory()
    if callable(identifier):
        return identifier
    raise ValueError(f"Expected a regularizer name, a callable or None, got {identifier!r}")
