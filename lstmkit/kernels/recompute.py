"""The bounded-memory backward: a sequence too long for what its backward would keep runs in
segments, each recomputed when the backward reaches it.

The fused kernels' forward keeps about G + 3 values per unit, step and sample for the backward
(the gates' activations, the carried states, the recurrent input). A long sequence at a large
batch can need more than the machine has: a GRU(512) over 1,344 steps at batch 256 keeps about
3.5 GB. Where that estimate exceeds half the memory available (`MemAvailable`), or where
`LSTMKIT_BACKWARD_MEMORY=recompute` asks for it, `run_segments` cuts the sequence into segments of
about √T steps and runs each through `torch.utils.checkpoint`: the forward keeps only each
segment's input and starting state, and the backward recomputes one segment's forward at a time
before going back through it. Memory O(√T) steps instead of T; time about one forward more. It
says so once per cell (a RuntimeWarning with the figures). `LSTMKIT_BACKWARD_MEMORY=keep` never
recomputes.

Keras's masking rule crosses the segments' boundaries here: a masked step repeats the previous
output, which for the first steps of a segment is the last output of the one before (the kernels
see each segment alone and would give zeros).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from typing import Any, Callable

import torch
from torch.utils.checkpoint import checkpoint

MODES = ("auto", "recompute", "keep")
SHARE = 0.5  # of the available memory the kept tensors may take before "auto" recomputes


def mode() -> str:
    """`LSTMKIT_BACKWARD_MEMORY`: "auto" (the default), "recompute" or "keep"."""
    value = os.environ.get("LSTMKIT_BACKWARD_MEMORY", "auto").strip().lower() or "auto"
    if value not in MODES:
        raise ValueError(f"LSTMKIT_BACKWARD_MEMORY must be one of {', '.join(MODES)}, got {value!r}")
    return value


def memory_available(device: torch.device | None = None) -> int | None:
    """Bytes the device can still give the kept tensors, or None where unknown: on a CUDA
    device its free memory plus what torch's caching allocator holds unused; elsewhere what the
    system can give without swapping (`MemAvailable`, read at most every `MEMINFO_SECONDS`: the
    decision is made at every training call)."""
    if device is not None and device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    global _meminfo
    now = time.monotonic()
    if _meminfo is None or now - _meminfo[0] > MEMINFO_SECONDS:
        _meminfo = (now, _system_available())
    return _meminfo[1]


MEMINFO_SECONDS = 1.0
_meminfo: tuple[float, int | None] | None = None  # when it was read, what it said


def _system_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def kept_bytes(steps: int, rows: int, units: int, gates: int, itemsize: int) -> int:
    """About what the kernels' forward keeps for the backward: G + 3 values per unit, step and row."""
    return steps * rows * units * (gates + 3) * itemsize


def segment_steps(steps: int, estimate: int, cell: Any, device: torch.device | None = None) -> int | None:
    """The steps per segment for this call on `device` (where the kept tensors would live), or
    None to keep the whole sequence."""
    chosen = mode()
    if chosen == "keep" or steps < 4:
        return None
    length = max(1, math.isqrt(steps))
    if chosen == "recompute":
        return length
    available = memory_available(device)
    if available is None or estimate <= SHARE * available:
        return None
    if getattr(cell, "_lstmkit_recompute_reported", False) is False:
        cell._lstmkit_recompute_reported = True
        warnings.warn(
            f"{type(cell).__name__}: the backward would keep about {estimate / 2**30:.1f} GB for "
            f"{steps} steps, over half of the {available / 2**30:.1f} GB available; recomputing the forward "
            f"in segments of {length} steps instead (memory for about {2 * length} steps, one forward more "
            "in time). LSTMKIT_BACKWARD_MEMORY=keep turns this off.", RuntimeWarning, stacklevel=6)
    return length


def run_segments(
    run: Callable[[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor | None, torch.Tensor | None],
                  tuple[torch.Tensor, tuple[torch.Tensor, ...]]],
    x: torch.Tensor,
    state: tuple[torch.Tensor, ...],
    mask: torch.Tensor | None,
    noise: torch.Tensor | None,
    *,
    length: int,
    return_sequences: bool,
    zero_output: bool,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """`run(x, state, mask, noise)` over time-major x (T, B, ...) in segments of `length` steps,
    each checkpointed; mask (T, B) and noise (T, ...) are cut alike. `run` returns the segment's
    outputs (T', B, ...) or last output (B, ...), and its final state. Returns the same for the
    whole sequence."""
    outputs = []
    last: torch.Tensor | None = None  # the previous segment's last output
    for t0 in range(0, x.shape[0], length):
        t1 = min(x.shape[0], t0 + length)
        m = None if mask is None else mask[t0:t1]
        nz = None if noise is None else noise[t0:t1]

        def segment(xs: torch.Tensor, *s: torch.Tensor, m: torch.Tensor | None = m,
                    nz: torch.Tensor | None = nz) -> tuple[torch.Tensor, ...]:
            out, new_state = run(xs, s, m, nz)
            return (out, *new_state)

        out, *new = checkpoint(segment, x[t0:t1], *state, use_reentrant=False)
        state = tuple(new)
        if m is not None and last is not None and not zero_output:
            # steps masked from the segment's start repeat the previous segment's last output
            leading = (~m).to(torch.int32).cumprod(0).bool()  # (T', B)
            if return_sequences:
                held = leading.reshape(*leading.shape, *([1] * (out.dim() - 2)))
                out = torch.where(held, last.unsqueeze(0), out)
            else:
                held = leading.all(0).reshape(-1, *([1] * (out.dim() - 1)))
                out = torch.where(held, last, out)
        last = out[-1] if return_sequences else out
        outputs.append(out)
    return (torch.cat(outputs) if return_sequences else outputs[-1]), state
