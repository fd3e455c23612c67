"""Movie-review sentences with a human sentiment score, offline, for sentiment classification.

10,605 sentences (the sentence-polarity data of Pang & Lee, as rated by Hutto & Gilbert for
VADER, ICWSM 2014), each with the mean of several human ratings from -4 (very negative) to +4
(very positive); 5,242 are positive, 5,326 negative and 37 exactly neutral. Source:
`movieReviewSnippets_GroundTruth.txt` in the sdist of the PyPI package `vaderSentiment` 3.3.2,
line ends turned to LF. Licence: MIT. (The shared datasets' README counts 10,604 sentences; the
file holds 10,605 rows with distinct ids 1..10605.)

The split is fixed: sentences whose id is a multiple of 5 are the test set (20 %), the rest the
training set, so every program sees the same split whatever its random seed.
"""

from __future__ import annotations

import numpy as np

from ._files import checked_path

FILE_NAME = "movie_reviews.tsv"
SHA256 = "1f445408f0ece8973e6142dcc8bd08eea2faaf149b907de11bddda64fd62f5b0"
TEST_EVERY = 5


def load_scores() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All sentences in file order: (ids int64 (N,), scores float64 (N,) in [-4, 4], texts object (N,))."""
    ids, scores, texts = [], [], []
    with open(checked_path(FILE_NAME, SHA256), encoding="utf-8") as f:
        for line in f:
            sid, score, text = line.rstrip("\n").split("\t", 2)
            ids.append(int(sid))
            scores.append(float(score))
            texts.append(text)
    return np.array(ids, dtype=np.int64), np.array(scores), np.array(texts, dtype=object)


def load_data(binary: bool = True) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """`(x_train, y_train), (x_test, y_test)`, as Keras's text datasets return them.

    x are the sentences (object arrays of str). With `binary` (the default) y is 1 for a positive
    score and 0 for a negative one (int64), and the 37 neutral sentences (score 0) are left out:
    8,457 training and 2,111 test sentences. With `binary=False` y is the score itself (float64)
    and every sentence is kept.

    >>> (x_train, y_train), (x_test, y_test) = load_data()
    >>> len(x_train), len(x_test), int(y_train.sum()), int(y_test.sum())
    (8457, 2111, 4190, 1052)
    """
    ids, scores, texts = load_scores()
    keep = scores != 0 if binary else np.ones(len(ids), dtype=bool)
    test = ids % TEST_EVERY == 0
    y = (scores > 0).astype(np.int64) if binary else scores
    train_rows, test_rows = keep & ~test, keep & test
    return (texts[train_rows], y[train_rows]), (texts[test_rows], y[test_rows])
