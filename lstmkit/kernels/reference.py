"""The reference time loop: a cell's `step` called once per time step, in Python.

It is the specification the fused kernels are tested against, and the path for anything they
do not cover (a user's own cell or activation, a convolutional cell, another device).
"""

from __future__ import annotations

import torch

from ..cells import SequenceCell
from ..cells._cell import State


def reference_sequence(
    cell: SequenceCell,
    xw: torch.Tensor,
    state: State,
    *,
    mask: torch.Tensor | None,
    recurrent_mask: torch.Tensor | None,
    return_sequences: bool,
    zero_output_for_mask: bool,
    noise: torch.Tensor | None = None,
) -> tuple[torch.Tensor, State]:
    """Runs `cell.step` over the projected inputs xw (B, T, ...), one step at a time.

    Keras's masking rule: at a step where mask[b, t] is False, sample b keeps its state, and its
    output repeats the previous step's output (zeros before the first step), or is zero when
    `zero_output_for_mask`. `noise` (T, ...), the cell's training-time draws, goes to its step
    one time step at a time. Returns the outputs (B, T, ...), or the last one, and the state.
    """
    out: torch.Tensor | None = None  # the previous output (None: zeros, before the first step)
    outputs = []
    # unbind, not xw[:, t]: its backward is one stack, where T selects would each zero-fill a
    # gradient the size of xw
    for t, xw_t in enumerate(xw.unbind(1)):
        new_out, new_state = cell.step(xw_t, state, recurrent_mask, None if noise is None else noise[t])
        if mask is not None:
            keep = mask[:, t]  # (B,)
            new_state = tuple(torch.where(_along(keep, s), n, s) for n, s in zip(new_state, state))
            held = torch.zeros_like(new_out) if zero_output_for_mask or out is None else out
            new_out = torch.where(_along(keep, new_out), new_out, held)
        out, state = new_out, new_state
        if return_sequences:
            outputs.append(out)
    assert out is not None  # callers check for at least one step
    return (torch.stack(outputs, dim=1) if return_sequences else out), state


def _along(keep: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """keep (B,) shaped to broadcast over `like` (B, ...)."""
    return keep.reshape(-1, *([1] * (like.dim() - 1)))
