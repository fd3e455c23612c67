"""Weight constraints under Keras's names, applied to a weight after each optimizer step.

A constraint maps a weight tensor to its projected value: `max_norm`, `non_neg`, `unit_norm`,
`min_max_norm`. Norms are taken along `axis=0` as in Keras, which for a kernel of shape
(input_dim, units) is the norm of each unit's incoming weights.
"""

from __future__ import annotations

from typing import Callable, Union

import torch

Constraint = Callable[[torch.Tensor], torch.Tensor]
ConstraintLike = Union[str, Constraint, None]

_EPSILON = 1e-7  # Keras's backend epsilon, keeps the division finite for an all-zero column


class MinMaxNorm:
    """Rescales so each norm along `axis` lies in [min_value, max_value], moved by `rate` of the way."""

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: int = 0) -> None:
        if min_value < 0 or max_value < min_value:
            raise ValueError(f"Expected 0 <= min_value <= max_value, got min_value={min_value}, max_value={max_value}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"Expected rate in [0, 1], got rate={rate}")
        self.min_value, self.max_value, self.rate, self.axis = float(min_value), float(max_value), float(rate), axis

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        norms = w.square().sum(dim=self.axis, keepdim=True).sqrt()
        target = self.rate * norms.clamp(self.min_value, self.max_value) + (1.0 - self.rate) * norms
        return w * (target / (_EPSILON + norms))


class MaxNorm(MinMaxNorm):
    def __init__(self, max_value: float = 2.0, axis: int = 0) -> None:
        super().__init__(0.0, max_value, 1.0, axis)


class UnitNorm(MinMaxNorm):
    def __init__(self, axis: int = 0) -> None:
        super().__init__(1.0, 1.0, 1.0, axis)

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        return w / (_EPSILON + w.square().sum(dim=self.axis, keepdim=True).sqrt())


class NonNeg:
    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        return w.clamp(min=0.0)


max_norm = MaxNorm
min_max_norm = MinMaxNorm
unit_norm = UnitNorm
non_neg = NonNeg

_REGISTRY: dict[str, Callable[[], Constraint]] = {
    "max_norm": MaxNorm,
    "min_max_norm": MinMaxNorm,
    "unit_norm": UnitNorm,
    "non_neg": NonNeg,
}


def get(identifier: ConstraintLike) -> Constraint | None:
    """Resolves a name, a callable, or None.

    >>> get("non_neg")(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        factory = _REGISTRY.get(identifier)
        if factory is None:
            raise ValueError(f"Unknown constraint {identifier!r}. Known names: {', '.join(sorted(_REGISTRY))}")
        return factory()
    if callable(identifier):
        return identifier
    raise ValueError(f"Expected a constraint name, a callable or None, got {identifier!r}")
