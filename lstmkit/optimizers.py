"""Keras's import path for optimizers: `from lstmkit.optimizers import Adam`."""

from .training.optimizers import SGD as SGD
from .training.optimizers import Adadelta as Adadelta
from .training.optimizers import Adamax as Adamax
from .training.optimizers import AdamW as AdamW
from .training.optimizers import Nadam as Nadam
from .training.optimizers import Adagrad as Adagrad
from .training.optimizers import Adam as Adam
from .training.optimizers import Optimizer as Optimizer
from .training.optimizers import RMSprop as RMSprop
from .training.optimizers import LossScaleOptimizer as LossScaleOptimizer
from .training.optimizers import get as get

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "LossScaleOptimizer", "get"]
