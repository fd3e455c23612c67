"""The shipped datasets: the documented sizes, spans and checksums (facts from the sources'
documentation, see ../shared/datasets/README.md), and a damaged file is refused."""

import csv
import hashlib

import numpy as np
import pytest

from lstmkit.datasets import _files, airline, movie_reviews, sunspots


@pytest.mark.parametrize("module", [airline, movie_reviews, sunspots])
def test_shipped_file_has_the_documented_checksum(module):
    data = (_files.DATA_DIR / module.FILE_NAME).read_bytes()
    assert hashlib.sha256(data).hexdigest() == module.SHA256


def test_airline_is_144_months_1949_to_1960():
    months, passengers = airline.load_series()
    assert months.shape == passengers.shape == (144,)
    assert (str(months[0]), str(months[-1])) == ("1949-01", "1960-12")
    assert passengers.dtype == np.float64 and passengers.min() > 0
    # Box & Jenkins: 112 in January 1949, 432 in December 1960
    assert (passengers[0], passengers[-1]) == (112.0, 432.0)


def test_sunspots_is_309_years_1700_to_2008():
    years, spots = sunspots.load_series()
    assert years.shape == spots.shape == (309,)
    assert (int(years[0]), int(years[-1])) == (1700, 2008)
    assert np.all(np.diff(years) == 1) and spots.min() >= 0


def test_movie_reviews_split_is_fixed_disjoint_and_by_sign():
    ids, scores, texts = movie_reviews.load_scores()
    assert len(ids) == len(scores) == len(texts) == 10605 and len(set(ids.tolist())) == 10605
    assert scores.min() >= -4 and scores.max() <= 4
    (x_train, y_train), (x_test, y_test) = movie_reviews.load_data()
    # read the file a second way: the csv module over tab-separated rows
    with open(_files.DATA_DIR / movie_reviews.FILE_NAME, newline="", encoding="utf-8") as f:
        rows = [(int(r[0]), float(r[1]), r[2]) for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    test_rows = [r for r in rows if r[0] % 5 == 0 and r[1] != 0]
    train_rows = [r for r in rows if r[0] % 5 != 0 and r[1] != 0]
    assert x_test.tolist() == [r[2] for r in test_rows] and x_train.tolist() == [r[2] for r in train_rows]
    assert y_test.tolist() == [int(r[1] > 0) for r in test_rows]
    assert 0.45 < y_train.mean() < 0.55  # balanced, so the majority baseline is about 50 %
    (_, s_train), (_, s_test) = movie_reviews.load_data(binary=False)
    assert len(s_train) + len(s_test) == 10605 and s_train.dtype == np.float64


def test_damaged_file_is_refused(tmp_path):
    bad = tmp_path / "airline.csv"
    bad.write_text("Date,Passengers\n1949-01,1\n")
    with pytest.raises(ValueError, match="SHA-256"):
        _files.checked_path("airline.csv", airline.SHA256, bad)
