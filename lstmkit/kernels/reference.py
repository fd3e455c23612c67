"""The reference time loop: a cell's `step` called once per time step, in Python.

It is the specification the fused kernels are tested against, and the path for anything they
do not cover (a user's own cell or activation, another device).
"""

from __future__ import annotations

import torch

from ..cells import RecurrentCell
from ..cells._cell import State


def reference_sequence(
    cell: RecurrentCell,
    xw: torch.Tensor,
    state: State,
    *,
    mask: torch.Tensor | None,
    recurrent_mask: torch.Tensor | None,
    return_sequences: bool,
    zero_output_for_mask: bool,
    zoneout_masks: torch.Tensor | None = None,
) -> tuple[torch.Tensor, State]:
    """Runs `cell.step` over the projected inputs xw (B, T, G*H), one step at a time.

    Keras's masking rule: at a step where mask[b, t] is False, sample b keeps its state, and its
    output repeats the previous step's output (zeros before the first step), or is zero when
    `zero_output_for_mask`. `zoneout_masks` (2, T, B, H), an LSTM's training-time zoneout draws
    for h and c, go to its step one time step at a time. Returns the outputs (B, T, H), or the
    last one (B, H), and the state.
    """
    B, T, _ = xw.shape
    zeros = xw.new_zeros(B, cell.units)
    out = zeros  # the "previous output" before the first step
    outputs = []
    # unbind, not xw[:, t]: its backward is one stack, where T selects would each zero-fill a
    # gradient the size of xw
    for t, xw_t in enumerate(xw.unbind(1)):
        if zoneout_masks is None:
            new_out, new_state = cell.step(xw_t, state, recurrent_mask)
        else:
            zoneout_t = (zoneout_masks[0, t], zoneout_masks[1, t])
            new_out, new_state = cell.step(xw_t, state, recurrent_mask, zoneout_t)  # type: ignore[call-arg]
        if mask is not None:
            keep = mask[:, t, None]  # (B, 1)
            new_state = tuple(torch.where(keep, n, s) for n, s in zip(new_state, state))
            new_out = torch.where(keep, new_out, zeros if zero_output_for_mask else out)
        out, state = new_out, new_state
        if return_sequences:
            outputs.append(out)
    return (torch.stack(outputs, dim=1) if return_sequences else out), state
