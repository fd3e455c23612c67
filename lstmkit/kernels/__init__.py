"""Where a recurrent layer's time loop runs: the one dispatch point between implementations.

- `"reference"`: the cell's `step` in a Python loop (`reference.py`), the specification;
- `"fused"`: kernels running the whole sequence, forward and backward (`fused.py`): compiled
  C++ on the CPU (`csrc/`), Triton on CUDA devices (`gpu/`);
- `"auto"`: fused wherever it can run, else the reference, with one warning saying why.

Layers take `implementation=`; `None` means the library-wide default, which
`set_default_implementation` changes (initially `"auto"`, or `$LSTMKIT_IMPLEMENTATION`).
"""

from __future__ import annotations

import numbers
import os
import warnings

import torch

from ..cells import RecurrentCell
from ..cells._cell import State
from .reference import reference_sequence

IMPLEMENTATIONS = ("auto", "reference", "fused")

_default = os.environ.get("LSTMKIT_IMPLEMENTATION", "auto")


def check_implementation(value: object, argument: str = "implementation") -> str | None:
    """Validates an `implementation` argument. Keras's 0, 1 and 2 (Keras 2.0's three ways of
    batching the gate products, all with the same results) are accepted and mean "auto"."""
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value in (0, 1, 2):
        return "auto"
    if isinstance(value, str) and value in IMPLEMENTATIONS:
        return value
    raise ValueError(f"{argument} must be one of {', '.join(map(repr, IMPLEMENTATIONS))} (or Keras's 0, 1 or 2), "
                     f"got {value!r}")


def set_default_implementation(value: str) -> None:
    """Sets the implementation used by layers built with `implementation=None` (the default)."""
    global _default
    checked = check_implementation(value)
    if checked is None:
        raise ValueError("the default implementation cannot be None")
    _default = checked


def get_default_implementation() -> str:
    return check_implementation(_default, "$LSTMKIT_IMPLEMENTATION") or "auto"


class FusedUnavailableError(RuntimeError):
    """`implementation="fused"` was asked for where the fused kernels cannot run."""


def resolve(implementation: str | None, cell: RecurrentCell, x: torch.Tensor, owner: str) -> str:
    """"fused" or "reference" for this call; warns once per cell when "auto" falls back."""
    from .fused import unsupported

    wanted = implementation or get_default_implementation()
    if wanted == "reference":
        return "reference"
    reason = unsupported(cell, x)
    if reason is None:
        return "fused"
    if wanted == "fused":
        raise FusedUnavailableError(
            f"{owner}: implementation='fused' cannot run here: {reason}. "
            "Pass implementation='auto' to fall back to the reference loop, or 'reference'."
        )
    if getattr(cell, "_lstmkit_fallback_reason", None) != reason:
        setattr(cell, "_lstmkit_fallback_reason", reason)
        warnings.warn(f"{owner}: using the reference loop, not the fused kernels: {reason}.", RuntimeWarning,
                      stacklevel=4)
    return "reference"


def run_sequence(
    cell: RecurrentCell,
    x: torch.Tensor,
    state: State,
    *,
    mask: torch.Tensor | None,
    recurrent_mask: torch.Tensor | None,
    return_sequences: bool,
    zero_output_for_mask: bool,
    zoneout_masks: torch.Tensor | None = None,
    implementation: str | None = None,
    owner: str = "recurrent layer",
) -> tuple[torch.Tensor, State]:
    """Runs `cell` over x (B, T, D) from `state`: the outputs (B, T, H) or (B, H), and the final state.

    The masking rule, dropout and zoneout masks and states are those of `reference_sequence`.
    """
    path = resolve(implementation, cell, x, owner)
    kwargs = dict(mask=mask, recurrent_mask=recurrent_mask, return_sequences=return_sequences,
                  zero_output_for_mask=zero_output_for_mask, zoneout_masks=zoneout_masks)
    if path == "fused":
        from .fused import fused_sequence

        return fused_sequence(cell, x, state, **kwargs)  # type: ignore[arg-type]
    return reference_sequence(cell, cell.project_inputs(x), state, **kwargs)  # type: ignore[arg-type]


__all__ = [
    "IMPLEMENTATIONS",
    "FusedUnavailableError",
    "check_implementation",
    "get_default_implementation",
    "reference_sequence",
    "resolve",
    "run_sequence",
    "set_default_implementation",
]
