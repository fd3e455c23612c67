"""Input pipelines: `Dataset`, a lazy, streaming sequence of elements transformed step by step
(`map`, `batch`, `window`, `shuffle`, ...), as TensorFlow's `tf.data.Dataset` describes them.

`fit`, `evaluate` and `predict` take a Dataset of `(x, y)`, `(x, y, sample_weight)` or `x`
batches; `keras.utils.timeseries_dataset_from_array` and `text_dataset_from_directory` return one;
`import tensorflow as tf` under `lstmkit run` gives it as `tf.data.Dataset`.
"""

from .dataset import AUTOTUNE, INFINITE, UNKNOWN, Dataset, TensorSpec, TextLineDataset
from .strings import StringTensor, as_leaf

__all__ = ["AUTOTUNE", "INFINITE", "UNKNOWN", "Dataset", "TensorSpec", "TextLineDataset", "StringTensor", "as_leaf"]
