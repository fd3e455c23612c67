"""The sequence runner, and where a recurrent layer's time loop runs: the one dispatch point
between implementations.

`run_sequence` is every recurrent layer's way through a sequence (LSTM, GRU, SimpleRNN,
ConvLSTM2D, RNN(cell)): the sequence-wide options (`SequenceSettings`: direction, dropout,
masking rule, what is returned, the implementation), the cell's training-time noise, then the
loop, on one of:

- `"reference"`: the cell's `step` in a Python loop (`reference.py`), the specification;
- `"fused"`: kernels running the whole sequence, forward and backward (`fused.py`): compiled
  C++ on the CPU (`csrc/`), Triton on CUDA devices (`gpu/`);
- `"auto"`: fused wherever it can run, else the reference, with one warning saying why.

Layers take `implementation=`; `None` means the library-wide default, which
`set_default_implementation` changes (initially `"auto"`, or `$LSTMKIT_IMPLEMENTATION`).
"""

from __future__ import annotations

import contextlib
import numbers
import os
import warnings
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .._checks import rate
from ..cells import SequenceCell, Settings, as_kernel_cell
from ..cells._cell import State, own
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


@dataclass(frozen=True)
class SequenceSettings(Settings):
    """A recurrent layer's sequence-wide options, Keras's names and defaults; `implementation`
    (lstmkit's: "auto", "reference", "fused", or Keras's 0, 1, 2; None for the library default)."""

    return_sequences: bool = False
    return_state: bool = False
    go_backwards: bool = False
    stateful: bool = False
    unroll: bool = False  # accepted for Keras compatibility; the loop is the same either way
    zero_output_for_mask: bool = False
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    seed: int | None = None  # accepted for Keras compatibility; dropout draws from torch's generator
    implementation: str | None = own(None)  # given as Keras's 0, 1, 2 too

    def normalised(self) -> dict[str, Any]:
        flags = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask")
        return dict({name: bool(getattr(self, name)) for name in flags},
                    dropout=rate("dropout", self.dropout), recurrent_dropout=rate("recurrent_dropout", self.recurrent_dropout),
                    implementation=check_implementation(self.implementation))


def dropout_mask(shape: tuple[int, ...], p: float, like: torch.Tensor) -> torch.Tensor:
    """A mask of 0 and 1 / (1 - p) shaped `shape`, in `like`'s dtype and device (the recurrent
    layers draw one per sequence and reuse it at every step: variational dropout).

    On the CPU it comes from the compiled kernels' counter-based generator (csrc/dropout.h: five
    times torch's speed), seeded from torch's generator so `torch.manual_seed` repeats it; where
    the kernels cannot be built, on other devices and in a traced graph, from torch's dropout.
    Which of the two is fixed for the process (the kernels load at the first mask), so a resumed
    run draws its masks as the interrupted one did."""
    from . import build

    if (like.device.type == "cpu" and like.dtype in (torch.float32, torch.float64) and not torch.compiler.is_compiling()
            and build.load()):
        seed = int(torch.randint(-(2**62), 2**62, (1,)).item())
        return torch.ops.lstmkit_fused.dropout_mask(list(shape), like.dtype, float(p), seed)
    return F.dropout(torch.ones(shape, dtype=like.dtype, device=like.device), p, training=True)


def run_sequence(
    cell: SequenceCell,
    x: torch.Tensor,
    state: State,
    settings: SequenceSettings,
    *,
    mask: torch.Tensor | None = None,
    training: bool = False,
    owner: str = "recurrent layer",
) -> tuple[torch.Tensor, State]:
    """Runs `cell` over x (B, T, ...) from `state` as `settings` say: the outputs (B, T, ...) or
    the last one, and the final state.

    With `go_backwards` the sequence (and its mask (B, T)) is read from the end. At training
    time `dropout` drops parts of each input with one mask per sequence, `recurrent_dropout`
    the previous output where it enters the recurrent product (one mask, shaped like the first
    state), and the cell draws its own noise (`cell.draw_noise`).

    A mixed-precision layer gives x in bfloat16 or float16 with float32 weights and states: the
    input product x W is computed in x's dtype, and everything after it (the recurrent product,
    gates, states, outputs) in the weights' dtype, on either path; torch's autocast, on around
    such a layer, is off for the loop.
    """
    if settings.go_backwards:
        x = x.flip(1)
        mask = None if mask is None else mask.flip(1)
    B, T = x.shape[:2]
    if training and settings.dropout > 0:
        x = x * dropout_mask((B, 1, *x.shape[2:]), settings.dropout, x)
    recurrent_mask = None  # the states' dtype: x may be lower (a mixed-precision layer's input)
    if training and settings.recurrent_dropout > 0:
        recurrent_mask = dropout_mask(tuple(state[0].shape), settings.recurrent_dropout, state[0])
    noise = cell.draw_noise(T, B, state[0]) if training else None
    # a mixed-precision layer's autocast does not reach into the loop (run in the weights' dtype)
    outside_autocast = torch.autocast(x.device.type, enabled=False) if torch.is_autocast_enabled(x.device.type) \
        else contextlib.nullcontext()
    with outside_autocast:
        return dispatch(cell, x, state, settings, mask=mask, recurrent_mask=recurrent_mask, noise=noise, owner=owner)


def resolve(implementation: str | None, cell: SequenceCell, x: torch.Tensor, owner: str) -> str:
    """"fused" or "reference" for this call; warns once per cell when "auto" falls back. A cell
    the kernels have no code for (`kernel_name` None) runs the reference loop without a warning:
    there is nothing to fall back from."""
    from .fused import unsupported
    from .ops import onnx_export_active

    wanted = implementation or get_default_implementation()
    if onnx_export_active():
        why = "it runs the reference loop (implementation='reference')" if wanted == "reference" else unsupported(cell, x)
        if why is not None:
            raise FusedUnavailableError(f"{owner} cannot be exported to ONNX: {why}; ONNX export writes each "
                                        "recurrent layer's fused operator, not an unrolled Python loop")
    if wanted == "reference":
        return "reference"
    if cell.kernel_name is None and wanted == "auto":
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
                      stacklevel=5)
    return "reference"


def dispatch(
    cell: SequenceCell,
    x: torch.Tensor,
    state: State,
    settings: SequenceSettings,
    *,
    mask: torch.Tensor | None,
    recurrent_mask: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    owner: str = "recurrent layer",
) -> tuple[torch.Tensor, State]:
    """The loop over x (B, T, ...) as it is (already reversed and dropped out), with the given
    recurrent mask and noise, on the path `settings.implementation` and the cell allow.

    The masking rule, masks, noise and states are those of `reference_sequence`.
    """
    path = resolve(settings.implementation, cell, x, owner)
    if path == "fused":
        from .fused import fused_sequence

        kernel_cell = as_kernel_cell(cell)
        assert kernel_cell is not None  # unsupported() said so
        return fused_sequence(kernel_cell, x, state, settings, mask=mask, recurrent_mask=recurrent_mask, noise=noise,
                              owner=owner)
    return reference_sequence(cell, cell.project_inputs(x), state, mask=mask, recurrent_mask=recurrent_mask, noise=noise,
                              return_sequences=settings.return_sequences,
                              zero_output_for_mask=settings.zero_output_for_mask)


__all__ = [
    "IMPLEMENTATIONS",
    "FusedUnavailableError",
    "SequenceSettings",
    "check_implementation",
    "dispatch",
    "dropout_mask",
    "get_default_implementation",
    "reference_sequence",
    "resolve",
    "run_sequence",
    "set_default_implementation",
]
