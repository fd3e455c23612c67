"""Keras's import path for losses: `from lstmkit.losses import sparse_categorical_crossentropy`,
and the loss classes (`lstmkit.losses.SparseCategoricalCrossentropy(from_logits=True)`)."""

from .training.losses import (BinaryCrossentropy, CategoricalCrossentropy, CosineSimilarity, Hinge, Huber,
                              KLDivergence, LogCosh, Loss, MeanAbsoluteError, MeanAbsolutePercentageError,
                              MeanSquaredError, MeanSquaredLogarithmicError, Poisson, SparseCategoricalCrossentropy,
                              SquaredHinge, binary_crossentropy, categorical_crossentropy, cosine_similarity, get,
                              hinge, huber, kl_divergence, kld, log_cosh, logcosh, mae, mape, mean_absolute_error,
                              mean_absolute_percentage_error, mean_squared_error, mean_squared_logarithmic_error, mse,
                              msle, poisson, sparse_categorical_crossentropy, squared_hinge)

__all__ = [
    "sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy", "mean_squared_error", "mse",
    "mean_absolute_error", "mae", "mean_absolute_percentage_error", "mape", "mean_squared_logarithmic_error", "msle",
    "huber", "log_cosh", "logcosh", "kl_divergence", "kld", "poisson", "hinge", "squared_hinge", "cosine_similarity",
    "get", "Loss", "SparseCategoricalCrossentropy", "CategoricalCrossentropy", "BinaryCrossentropy", "MeanSquaredError",
    "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "Huber", "LogCosh",
    "KLDivergence", "Poisson", "Hinge", "SquaredHinge", "CosineSimilarity",
]
