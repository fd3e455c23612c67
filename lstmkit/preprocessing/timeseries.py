"""Windows of a time series for sequence-to-value models, and a scaler fitted on the training
part only (fitting it on the whole series would leak the test period's range into training);
Keras's `TimeseriesGenerator` and `timeseries_dataset_from_array`."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from .._checks import positive_int
from ..data import Dataset, as_leaf
from ..data.strings import map_structure
from ..training.keras_sequence import Sequence


class MinMaxScaler:
    """Maps values linearly so the fitted data spans [0, 1]; `inverse` maps back.

    >>> s = MinMaxScaler().fit(np.array([10.0, 20.0, 30.0]))
    >>> s.transform(np.array([10.0, 40.0])).tolist(), s.inverse(np.array([0.5])).tolist()
    ([0.0, 1.5], [20.0])
    """

    def __init__(self) -> None:
        self.low: float | None = None
        self.span: float | None = None

    def fit(self, values: np.ndarray) -> "MinMaxScaler":
        values = np.asarray(values, dtype=np.float64)
        if values.size == 0 or not np.isfinite(values).all():
            raise ValueError("values to fit the scaler on must be non-empty and finite")
        self.low = float(values.min())
        self.span = float(values.max() - values.min()) or 1.0
        return self

    def _fitted(self) -> tuple[float, float]:
        if self.low is None or self.span is None:
            raise RuntimeError("the scaler is not fitted: call fit(training_values) first")
        return self.low, self.span

    def transform(self, values: np.ndarray) -> np.ndarray:
        low, span = self._fitted()
        return (np.asarray(values, dtype=np.float64) - low) / span

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        low, span = self._fitted()
        return np.asarray(scaled, dtype=np.float64) * span + low


def windows(series: np.ndarray, lookback: int, horizon: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """x (N, lookback, 1) of consecutive values and y (N, horizon) of the values that follow.

    >>> x, y = windows(np.arange(6.0), lookback=3, horizon=2)
    >>> x[..., 0].tolist(), y.tolist()
    ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]], [[3.0, 4.0], [4.0, 5.0]])
    """
    if lookback < 1 or horizon < 1:
        raise ValueError(f"lookback and horizon must be positive, got lookback={lookback!r}, horizon={horizon!r}")
    series = np.asarray(series, dtype=np.float64)
    n = len(series) - lookback - horizon + 1
    if n < 1:
        raise ValueError(f"a series of {len(series)} values has no window of lookback {lookback} + horizon {horizon}")
    starts = np.arange(n)
    x = series[starts[:, None] + np.arange(lookback)[None, :]][..., None]
    y = series[starts[:, None] + lookback + np.arange(horizon)[None, :]]
    return x, y


class TimeseriesGenerator(Sequence):
    """Keras 2's `TimeseriesGenerator`: batches of windows of `data`, each with the target at the
    step right after it, as a `Sequence` for `fit` / `fit_generator`.

    Window i ends just before row r_i and holds `data[r_i - length : r_i : sampling_rate]`; its
    target is `targets[r_i]`. The rows run from `start_index + length` to `end_index` (default
    the last row), `stride` apart, `batch_size` to a batch; with `shuffle` each batch draws its
    rows at random (numpy's generator), with `reverse` the windows run backwards in time.

    >>> gen = TimeseriesGenerator(np.arange(10), np.arange(10), length=3, batch_size=2)
    >>> len(gen), gen[0][0].tolist(), gen[0][1].tolist()
    (4, [[0, 1, 2], [1, 2, 3]], [3, 4])
    """

    def __init__(self, data: Any, targets: Any, length: int, sampling_rate: int = 1, stride: int = 1,
                 start_index: int = 0, end_index: int | None = None, shuffle: bool = False, reverse: bool = False,
                 batch_size: int = 128, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if len(data) != len(targets):
            raise ValueError(f"data and targets must have the same length, got {len(data)} and {len(targets)}")
        self.data, self.targets = data, targets
        self.length = positive_int("length", length)
        self.sampling_rate = positive_int("sampling_rate", sampling_rate)
        self.stride = positive_int("stride", stride)
        self.batch_size = positive_int("batch_size", batch_size)
        self.start_index = int(start_index) + self.length
        self.end_index = len(data) - 1 if end_index is None else int(end_index)
        self.shuffle, self.reverse = bool(shuffle), bool(reverse)
        if self.start_index > self.end_index:
            raise ValueError(f"start_index + length = {self.start_index} is past end_index = {self.end_index}: no row is "
                             "left to be the step after a window")

    def __len__(self) -> int:
        span = self.batch_size * self.stride
        return (self.end_index - self.start_index + span) // span

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if self.shuffle:
            rows = np.random.randint(self.start_index, self.end_index + 1, size=self.batch_size)
        else:
            first = self.start_index + self.batch_size * self.stride * index
            rows = np.arange(first, min(first + self.batch_size * self.stride, self.end_index + 1), self.stride)
        samples = np.array([self.data[row - self.length:row:self.sampling_rate] for row in rows])
        targets = np.array([self.targets[row] for row in rows])
        return (samples[:, ::-1, ...], targets) if self.reverse else (samples, targets)


def timeseries_dataset_from_array(data: Any, targets: Any, sequence_length: int, sequence_stride: int = 1,
                                  sampling_rate: int = 1, batch_size: int | None = 128, shuffle: bool = False,
                                  seed: int | None = None, start_index: int | None = None,
                                  end_index: int | None = None) -> Dataset:
    """Keras's `timeseries_dataset_from_array`, as a lazy `Dataset` (`tf.data.Dataset` in a
    TensorFlow program): windows of `sequence_length` steps, `sampling_rate` apart, starting every
    `sequence_stride` rows between `start_index` and `end_index`; the window starting at row i
    has target `targets[i]` (None: no targets). `shuffle` shuffles the windows (seeded by `seed`)
    before batching; `batch_size=None` gives single windows, unbatched.

    >>> ds = timeseries_dataset_from_array(np.arange(10), np.arange(10) * 10, sequence_length=3, batch_size=4)
    >>> x, y = next(iter(ds))
    >>> int(ds.cardinality()), x.numpy().tolist(), y.numpy().tolist()
    (2, [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]], [0, 10, 20, 30])
    """
    sequence_length = positive_int("sequence_length", sequence_length)
    sequence_stride = positive_int("sequence_stride", sequence_stride)
    sampling_rate = positive_int("sampling_rate", sampling_rate)
    values = np.asarray(data)
    labels = None if targets is None else np.asarray(targets)
    start = 0 if start_index is None else int(start_index)
    end = len(values) if end_index is None else int(end_index)
    if not 0 <= start < max(end, 1) or end > len(values):
        raise ValueError(f"start_index={start_index!r} and end_index={end_index!r} must satisfy 0 <= start_index < "
                         f"end_index <= len(data) = {len(values)}")
    count = end - start - (sequence_length - 1) * sampling_rate
    if labels is not None:
        count = min(count, len(labels))
    starts = np.arange(0, max(count, 0), sequence_stride) + start
    if shuffle:
        np.random.default_rng(seed).shuffle(starts)
    size = None if batch_size is None else positive_int("batch_size", batch_size)
    steps = np.arange(sequence_length) * sampling_rate
    chunk = size or 1

    def make() -> Iterator[Any]:
        for first in range(0, len(starts), chunk):
            rows = starts[first:first + chunk]
            windows = as_leaf(values[rows[:, None] + steps[None, :]])
            batch = windows if labels is None else (windows, as_leaf(labels[rows]))
            yield batch if size is not None else map_structure(lambda t: t[0], batch)
    return Dataset(make, -(-len(starts) // chunk))
