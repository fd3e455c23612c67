"""`tf.data`: lstmkit's `Dataset` (`lstmkit.data`), with TensorFlow's names around it."""

from __future__ import annotations

import types
from typing import Any

from ...data.dataset import AUTOTUNE, INFINITE, UNKNOWN, Dataset, TextLineDataset

__all__ = ["Dataset", "TextLineDataset", "AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "Options",
           "experimental"]

INFINITE_CARDINALITY = INFINITE
UNKNOWN_CARDINALITY = UNKNOWN


class Options:
    """Accepted and kept; lstmkit's pipelines run in order on the calling thread."""

    def __init__(self) -> None:
        self.experimental_deterministic = True
        self.deterministic = True
        self.experimental_distribute = types.SimpleNamespace(auto_shard_policy=None)
        self.threading = types.SimpleNamespace(private_threadpool_size=0, max_intra_op_parallelism=1)


def _cardinality(dataset: Dataset) -> Any:
    return dataset.cardinality()


experimental = types.SimpleNamespace(
    AUTOTUNE=AUTOTUNE, INFINITE_CARDINALITY=INFINITE, UNKNOWN_CARDINALITY=UNKNOWN, cardinality=_cardinality,
    AutoShardPolicy=types.SimpleNamespace(OFF=0, AUTO=1, FILE=2, DATA=3),
)
