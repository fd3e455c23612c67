"""Monthly international airline passengers, 1949-01 to 1960-12 (Box & Jenkins), offline.

144 months, in thousands of passengers, with a trend and a yearly season that grows with it:
the classic series of LSTM forecasting tutorials. Source: the PyPI package `sktime` 1.2.0.
Licence: BSD-3-Clause.
"""

from __future__ import annotations

import csv

import numpy as np

from ._files import checked_path

FILE_NAME = "airline.csv"
SHA256 = "28af0eb869db6d9fbd31d5af03993a0cbf36c0857c3eb046a068c094b60da851"
SEASON = 12  # months in the yearly cycle


def load_series() -> tuple[np.ndarray, np.ndarray]:
    """(months as 'YYYY-MM' str (144,), passengers in thousands float64 (144,)).

    >>> months, passengers = load_series()
    >>> str(months[0]), str(months[-1]), passengers[:3].tolist()
    ('1949-01', '1960-12', [112.0, 118.0, 132.0])
    """
    with open(checked_path(FILE_NAME, SHA256), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return np.array([r["Date"] for r in rows]), np.array([float(r["Passengers"]) for r in rows])
