"""Keras's `Sequence` (Keras 3's `PyDataset`): a source of batches by index, and how the
training loop reads one (a pass over `seq[0], seq[1], ...`, then `seq.on_epoch_end()`)."""

from __future__ import annotations

from typing import Any, Iterator


class Sequence:
    """Keras's `keras.utils.Sequence` (Keras 3 calls it `PyDataset`): batches by index.

    Subclass it with `__len__` (batches per epoch) and `__getitem__(i)` (batch i as `(x, y)` or
    `(x, y, sample_weight)`); `on_epoch_end()` runs after each pass (to reshuffle, say). `fit`,
    `evaluate`, `predict` and the Keras 2 `*_generator` methods take one as `x`.

    Args:
        workers, use_multiprocessing, max_queue_size: Accepted for Keras compatibility; batches
            are read in this process, one after another.
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10) -> None:
        pass

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__: the number of batches")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index): batch `index`")

    def on_epoch_end(self) -> None:
        """Called after each pass over the batches."""


def is_sequence(x: Any) -> bool:
    """A Keras-style Sequence: ours, or any object with `__len__`, `__getitem__` and `on_epoch_end`."""
    return isinstance(x, Sequence) or all(hasattr(x, a) for a in ("__len__", "__getitem__", "on_epoch_end"))


class SequencePasses:
    """A Sequence read as a re-iterable of batches: each iteration is one pass, then `on_epoch_end()`."""

    def __init__(self, sequence: Any) -> None:
        self.sequence = sequence

    def __len__(self) -> int:
        return len(self.sequence)

    def __iter__(self) -> Iterator[Any]:
        for index in range(len(self.sequence)):
            yield self.sequence[index]
        self.sequence.on_epoch_end()
