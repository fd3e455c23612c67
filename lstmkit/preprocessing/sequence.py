"""`pad_sequences`: lists of different lengths to one rectangular array, as Keras's."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

_SIDES = ("pre", "post")


def pad_sequences(
    sequences: Sequence[Sequence[Any]],
    maxlen: int | None = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: float = 0.0,
) -> np.ndarray:
    """Pads (or cuts) every sequence to `maxlen` and stacks them: (len(sequences), maxlen, ...).

    Args:
        sequences: Sequences of numbers (or of equal-shaped arrays).
        maxlen: Length of the result; the longest sequence's when None.
        dtype: Of the result.
        padding: "pre" fills before a short sequence, "post" after it.
        truncating: "pre" drops a long sequence's first values, "post" its last ones.
        value: The fill value.

    >>> pad_sequences([[1, 2, 3], [4, 5], [6]]).tolist()
    [[1, 2, 3], [0, 4, 5], [0, 0, 6]]
    >>> pad_sequences([[1, 2, 3], [4, 5], [6]], maxlen=2, padding="post", truncating="post").tolist()
    [[1, 2], [4, 5], [6, 0]]
    """
    if padding not in _SIDES:
        raise ValueError(f"padding must be 'pre' or 'post', got {padding!r}")
    if truncating not in _SIDES:
        raise ValueError(f"truncating must be 'pre' or 'post', got {truncating!r}")
    if maxlen is not None and (isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0):
        raise ValueError(f"maxlen must be a non-negative integer or None, got {maxlen!r}")
    try:
        lengths = [len(s) for s in sequences]
    except TypeError:
        raise ValueError("sequences must be a list of sequences (each with a length)") from None
    sample_shape: tuple[int, ...] = ()
    for s in sequences:
        if len(s):
            sample_shape = np.asarray(s).shape[1:]
            break
    length = max(lengths, default=0) if maxlen is None else int(maxlen)
    out = np.full((len(lengths), length, *sample_shape), value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not len(s) or length == 0:
            continue
        kept = np.asarray(s, dtype=dtype)
        if kept.shape[1:] != sample_shape:
            raise ValueError(f"sequence {i} has elements of shape {kept.shape[1:]}, the others {sample_shape}")
        kept = kept[-length:] if truncating == "pre" else kept[:length]
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, length - len(kept):] = kept
    return out


from .timeseries import TimeseriesGenerator as TimeseriesGenerator  # noqa: E402 - Keras 2 imports it from here
