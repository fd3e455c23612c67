"""Argument checks shared across the package; each error names the argument and its value."""

from __future__ import annotations

import math
import numbers
from typing import Any


def positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"Expected a positive integer for {name}, got {name}={value!r}")
    return int(value)


def positive_float(name: str, value: Any) -> float:
    """A finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"Expected a positive number for {name}, got {name}={value!r}")
    return float(value)


def non_negative(name: str, value: Any, *, allow_none: bool = False) -> Any:
    """A finite number >= 0 (or None when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"Expected a non-negative number for {name}, got {name}={value!r}")
    return float(value)


def rate(name: str, value: Any) -> float:
    """A dropout-like probability in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"Expected {name} to be a number in [0, 1), got {name}={value!r}")
    return float(value)


def one_of(name: str, value: Any, allowed: tuple[Any, ...]) -> Any:
    if value not in allowed:
        shown = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"Expected {name} to be one of {shown}, got {name}={value!r}")
    return value


def shape_tuple(name: str, value: Any, *, allow_none: bool = True) -> tuple[int | None, ...]:
    """A shape given as a tuple or list of positive ints (None for an unknown size), or one int."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (tuple, list)):
        raise ValueError(f"Expected a tuple of dimensions for {name}, got {name}={value!r}")
    dims: list[int | None] = []
    for d in value:
        if d is None and allow_none:
            dims.append(None)
        elif isinstance(d, numbers.Integral) and not isinstance(d, bool) and int(d) > 0:
            dims.append(int(d))
        else:
            raise ValueError(f"Expected positive dimensions (or None) in {name}, got {name}={tuple(value)!r}")
    return tuple(dims)


def non_negative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"Expected a non-negative integer for {name}, got {name}={value!r}")
    return int(value)
