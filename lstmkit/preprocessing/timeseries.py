"""Windows of a time series for sequence-to-value models, and a scaler fitted on the training
part only (fitting it on the whole series would leak the test period's range into training)."""

from __future__ import annotations

import numpy as np


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
