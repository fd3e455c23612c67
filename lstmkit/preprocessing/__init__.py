"""The preprocessing Keras 2 tutorials import: `sequence.pad_sequences`, `text.Tokenizer`, plus
character windows for text models (`text.CharVocabulary`) and windows of a time series with a
scaler fitted on the training part (`timeseries`)."""

from . import sequence as sequence
from . import text as text
from . import timeseries as timeseries

from . import image as image
from .timeseries import timeseries_dataset_from_array as timeseries_dataset_from_array
from ..data.directory import text_dataset_from_directory as text_dataset_from_directory

__all__ = ["sequence", "text", "timeseries", "image", "timeseries_dataset_from_array", "text_dataset_from_directory"]
