"""Keras's import path for metrics: `from lstmkit.metrics import sparse_categorical_accuracy`,
and the metric classes (`lstmkit.metrics.RootMeanSquaredError()`)."""

from .training.losses import (mae, mape, mean_absolute_error, mean_absolute_percentage_error, mean_squared_error,
                              mse, msle)
from .training.metrics import (BinaryAccuracy, CategoricalAccuracy, Mean, MeanAbsoluteError,
                               MeanAbsolutePercentageError, MeanSquaredError, Metric, RootMeanSquaredError,
                               SparseCategoricalAccuracy, SparseTopKCategoricalAccuracy, Sum, TopKCategoricalAccuracy,
                               binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
                               sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)

__all__ = [
    "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy", "Mean", "Metric", "MeanSquaredError",
    "RootMeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError", "SparseCategoricalAccuracy",
    "CategoricalAccuracy", "BinaryAccuracy", "mean_squared_error", "mse", "mean_absolute_error", "mae",
    "mean_absolute_percentage_error", "mape", "msle", "Sum", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
]
