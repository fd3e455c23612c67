"""Forecasting a univariate series one step ahead with an LSTM, against the naive baselines.

The series (strictly positive ones on a log scale) is differenced at its season's lag, so the
network learns how this period's change over last season differs from the recent ones;
differences are scaled to [0, 1] by the training part only. An LSTM reads the last `lookback`
differences and predicts the next; the forecast undoes the difference with the actual value one
season back. The last `test_size` points are the test period: the model is trained on the
windows before it, and every forecast in it uses actual past values only (one step ahead), as
do the baselines: naive (the previous value) and seasonal naive (the value one season back).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._checks import positive_int
from ..datasets import airline, sunspots
from ..layers import LSTM, Dense
from ..models import Sequential
from ..optimizers import Adam
from ..preprocessing.timeseries import MinMaxScaler, windows

SERIES = {"airline": (airline, "passengers (thousands)"), "sunspots": (sunspots, "mean sunspot number")}


@dataclass
class Result:
    series: str
    rmse: float
    naive_rmse: float
    seasonal_naive_rmse: float
    time: np.ndarray
    values: np.ndarray
    test_start: int
    forecast: np.ndarray
    season: int = 1
    history: dict[str, list[float]] = field(default_factory=dict)
    ylabel: str = "value"


def load(series: str) -> tuple[np.ndarray, np.ndarray, int, str]:
    """(time, values, season, y label) of a shipped series name or a CSV file of `time,value` rows."""
    if series in SERIES:
        module, ylabel = SERIES[series]
        time, values = module.load_series()
        return time, values, module.SEASON, ylabel
    if not os.path.isfile(series):
        raise ValueError(f"series must be one of {sorted(SERIES)} or a CSV file, got {series!r} (no such file)")
    with open(series, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f) if r]
    try:
        float(rows[0][-1])
    except (ValueError, IndexError):
        rows = rows[1:]  # a header line
    try:
        values = np.array([float(r[-1]) for r in rows])
    except ValueError as e:
        raise ValueError(f"{series}: the last column of every row must be a number ({e})") from None
    return np.array([r[0] for r in rows]), values, 1, "value"


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def build_model(lookback: int, units: int) -> Sequential:
    model = Sequential([LSTM(units, input_shape=(lookback, 1)), Dense(1)])
    model.compile(optimizer=Adam(learning_rate=0.005), loss="mse")
    return model


def train(
    series: str = "airline",
    lookback: int | None = None,
    test_size: int | None = None,
    season: int | None = None,
    units: int = 32,
    epochs: int = 150,
    batch_size: int = 16,
    verbose: int | str = "auto",
    fit_options: dict[str, Any] | None = None,
) -> tuple[Sequential, Result]:
    """Trains on everything before the last `test_size` points and forecasts those one step ahead.

    Args:
        series: "airline", "sunspots" or a CSV file whose rows end in the value.
        lookback: Past differences the LSTM reads (default: the season, at least 6).
        test_size: Points in the test period (default: two seasons, at least 12).
        season: Lag of the differencing (default: the series' season; 1 for a CSV file).
        units, epochs, batch_size, verbose: The LSTM's size and `fit`'s settings.
        fit_options: More keyword arguments for `fit`, e.g. {"checkpoint_dir": "ckpt", "resume": True}.
    """
    time, values, default_season, ylabel = load(series)
    season = default_season if season is None else season
    lookback = max(season, 6) if lookback is None else lookback
    test_size = max(2 * season, 12) if test_size is None else test_size
    for name, v in (("season", season), ("lookback", lookback), ("test_size", test_size), ("units", units),
                    ("epochs", epochs), ("batch_size", batch_size)):
        positive_int(name, v)
    n = len(values)
    if n - test_size - season - lookback < 8:
        raise ValueError(f"the series has {n} points: too few for season {season}, lookback {lookback} "
                         f"and a test period of {test_size} (fewer than 8 training windows)")
    log = bool(np.all(values > 0))
    level = np.log(values) if log else values.astype(np.float64)
    diff = level[season:] - level[:-season]  # diff[i] belongs to time i + season
    test_start = n - test_size
    scaler = MinMaxScaler().fit(diff[: test_start - season])
    z = scaler.transform(diff)
    x, y = windows(z, lookback)  # window i predicts diff[i + lookback], time i + lookback + season
    target_time = np.arange(len(y)) + lookback + season
    is_test = target_time >= test_start
    model = build_model(lookback, units)
    history = model.fit(x[~is_test], y[~is_test], epochs=epochs, batch_size=batch_size,
                        validation_data=(x[is_test], y[is_test]), verbose=verbose, **(fit_options or {}))
    z_hat = np.asarray(model.predict(x[is_test], verbose=0)).reshape(-1)
    t = target_time[is_test]
    level_hat = level[t - season] + scaler.inverse(z_hat)
    forecast = np.exp(level_hat) if log else level_hat
    actual = values[t]
    result = Result(series=series, rmse=rmse(forecast, actual), naive_rmse=rmse(values[t - 1], actual),
                    seasonal_naive_rmse=rmse(values[t - season], actual), time=time, values=values,
                    test_start=test_start, forecast=forecast, season=season, history=history.history,
                    ylabel=ylabel)
    return model, result


def plot(result: Result, path: str | os.PathLike[str]) -> str:
    """The series, the LSTM's and the seasonal-naive forecasts over the test period."""
    from .. import plot as plots

    t = np.arange(result.test_start, len(result.values))
    times = [result.time[i] for i in t]
    return plots.forecast(
        list(result.time), result.values,
        {f"LSTM (RMSE {result.rmse:.1f})": (times, result.forecast),
         f"seasonal naive (RMSE {result.seasonal_naive_rmse:.1f})": (times, result.values[t - result.season])},
        path, title=f"{result.series}: one-step forecasts over the test period", ylabel=result.ylabel,
        test_start=result.time[result.test_start],
    )
