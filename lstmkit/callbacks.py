"""Keras's import path for callbacks: `from lstmkit.callbacks import EarlyStopping`."""

from .training.callbacks import CSVLogger as CSVLogger
from .training.callbacks import Callback as Callback
from .training.callbacks import EarlyStopping as EarlyStopping
from .training.callbacks import History as History
from .training.callbacks import LambdaCallback as LambdaCallback
from .training.callbacks import LearningRateScheduler as LearningRateScheduler
from .training.callbacks import ModelCheckpoint as ModelCheckpoint
from .training.callbacks import ProgbarLogger as ProgbarLogger
from .training.callbacks import ReduceLROnPlateau as ReduceLROnPlateau
from .training.callbacks import TensorBoard as TensorBoard
from .training.callbacks import TerminateOnNaN as TerminateOnNaN

__all__ = [
    "Callback", "History", "ProgbarLogger", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau",
    "LearningRateScheduler", "CSVLogger", "TerminateOnNaN", "LambdaCallback", "TensorBoard",
]
