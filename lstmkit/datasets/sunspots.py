"""Yearly mean sunspot numbers, 1700 to 2008, offline.

309 years of the (old, version 1) yearly sunspot number, with its roughly 11-year cycle. Source:
the PyPI package `statsmodels` 0.15.0 (`statsmodels.datasets.sunspots`). The data are in the
public domain (statsmodels: BSD-3-Clause).
"""

from __future__ import annotations

import csv

import numpy as np

from ._files import checked_path

FILE_NAME = "sunspots.csv"
SHA256 = "f67889b1d9002cd5227f0e0ef54e35b419cdd85a31279adef6f73fb41e5c0a9b"
SEASON = 11  # years in the solar cycle, roughly


def load_series() -> tuple[np.ndarray, np.ndarray]:
    """(years int64 (309,), mean sunspot number float64 (309,)).

    >>> years, spots = load_series()
    >>> int(years[0]), int(years[-1]), spots[:2].tolist()
    (1700, 2008, [5.0, 11.0])
    """
    with open(checked_path(FILE_NAME, SHA256), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return np.array([int(float(r["YEAR"])) for r in rows]), np.array([float(r["SUNACTIVITY"]) for r in rows])
