"""Freed memory kept for reuse by the process, as TensorFlow's allocator keeps it.

glibc's malloc hands any block of 128 KB and more (its threshold then grows with what is freed,
up to 32 MB) straight back to the system when it is freed. A training step allocates the same
large tensors every time (a sequence's saved activations, its gradient, a convolution's input
term), so each one arrives as fresh pages that the system maps and zero-fills on first touch:
on 2 cores a ConvLSTM2D(32) training step over 10 frames of 40x40 spent a fifth of its time so
(178 ms, 140 ms with the memory kept), a GRU(256) over 1,000 steps about as much.

`keep_freed_memory()`, called when lstmkit's `fit`, `evaluate`, `predict` or `train_on_batch`
first runs, raises malloc's mmap threshold to 256 MB and its trim threshold to 1 GB: freed
blocks stay with the process and the next step reuses them. The process's resident size then
stays near its peak between steps instead of falling back (the peak itself moves little). It
changes nothing where the user chose: `LSTMKIT_KEEP_FREED_MEMORY=0`, or any of glibc's own
`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_` or `GLIBC_TUNABLES` set; and off glibc.
"""

from __future__ import annotations

import ctypes
import os
import sys

MMAP_THRESHOLD = 256 << 20  # blocks below it come from the heap, and are reused
TRIM_THRESHOLD = 1 << 30  # free memory at the heap's top the process keeps

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3

_done = False


def user_chose() -> str | None:
    """The setting by which the user chose the allocator's behaviour, or None."""
    if os.environ.get("LSTMKIT_KEEP_FREED_MEMORY", "").strip() == "0":
        return "LSTMKIT_KEEP_FREED_MEMORY=0"
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"):
        if name in os.environ:
            return name
    return None


def keep_freed_memory() -> bool:
    """Sets malloc to keep freed memory (once per process); True where it did."""
    global _done
    if _done:
        return False
    _done = True
    if not sys.platform.startswith("linux") or user_chose() is not None:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
