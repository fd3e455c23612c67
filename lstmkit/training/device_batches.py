"""Batches on their way to the model's device.

`fit`, `evaluate` and `predict` keep the data where it was given (host memory) and move one batch
at a time to the model's device. To a CUDA device a batch goes from page-locked (pinned) memory
with a non-blocking copy, so the host does not wait for the transfer; and the next batch is
prepared and sent while the current one computes (`prefetched`), its copy on a stream of its own
that the computation waits for. On the CPU nothing is copied and nothing runs ahead.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, TypeVar

import torch

from ..layers.symbolic import map_structure

T = TypeVar("T")
U = TypeVar("U")

# whether batches are prepared one ahead: "auto" (on CUDA devices), or True / False (tests)
LOOKAHEAD: Any = "auto"


def to_device(value: Any, device: torch.device) -> Any:
    """`value` (a tensor, or lists, tuples and dicts of them; other things as they are) on
    `device`: from host memory to a CUDA device through pinned memory, without waiting."""

    def moved(t: torch.Tensor) -> torch.Tensor:
        if t.device == device:
            return t
        if device.type == "cuda" and t.device.type == "cpu":
            return (t if t.is_pinned() else t.pin_memory()).to(device, non_blocking=True)
        return t.to(device)

    return map_structure(moved, value, torch.Tensor)


def looks_ahead(device: torch.device) -> bool:
    """Whether batches for `device` are prepared one ahead (`LOOKAHEAD`)."""
    return device.type == "cuda" if LOOKAHEAD == "auto" else bool(LOOKAHEAD)


def prefetched(batches: Iterable[T], prepare: Callable[[T], U], device: torch.device, ahead: bool) -> Iterator[U]:
    """`prepare(batch)` of each batch in order. With `ahead`, the next batch is taken and
    prepared before the current one is handed out: on a CUDA device on a side stream (its copies
    overlap the current batch's computation; the consumer's stream waits for them before use)."""
    if not ahead:
        for batch in batches:
            yield prepare(batch)
        return
    side = torch.cuda.Stream(device) if device.type == "cuda" else None

    def start(batch: T) -> U:
        if side is None:
            return prepare(batch)
        with torch.cuda.stream(side):
            return prepare(batch)

    it = iter(batches)
    following = next(it, _END)
    ready = None if following is _END else start(following)  # type: ignore[arg-type]
    while following is not _END:
        current = ready
        following = next(it, _END)
        if side is not None:
            torch.cuda.current_stream(device).wait_stream(side)
            _record(current, torch.cuda.current_stream(device))
        ready = None if following is _END else start(following)  # type: ignore[arg-type]
        yield current  # type: ignore[misc]


_END: Any = object()


def _record(value: Any, stream: Any) -> None:
    """Tells the caching allocator that tensors made on the side stream are used on `stream`."""
    map_structure(lambda t: t.record_stream(stream) if t.device.type == "cuda" else None, value, torch.Tensor)
