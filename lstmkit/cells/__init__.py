"""Reference recurrent cells: plain tensor code that reads like the equations.

Each cell is a `torch.nn.Module` holding Keras-layout weights, declared once with its frozen
settings object beside its math; fast paths elsewhere are defined as giving the same numbers.
"""

from ._cell import CellSettings as CellSettings
from ._cell import KernelCell as KernelCell
from ._cell import RecurrentCell as RecurrentCell
from ._cell import SequenceCell as SequenceCell
from ._cell import Settings as Settings
from ._cell import as_kernel_cell as as_kernel_cell
from ._cell import is_zero_state as is_zero_state
from ._cell import zero_state as zero_state
from .conv_lstm import ConvLSTMCell as ConvLSTMCell
from .conv_lstm import ConvLSTMSettings as ConvLSTMSettings
from .gru import GRUCell as GRUCell
from .gru import GRUSettings as GRUSettings
from .lstm import LSTMCell as LSTMCell
from .lstm import LSTMSettings as LSTMSettings
from .simple_rnn import SimpleRNNCell as SimpleRNNCell
from .simple_rnn import SimpleRNNSettings as SimpleRNNSettings

__all__ = [
    "Settings", "CellSettings", "SequenceCell", "KernelCell", "RecurrentCell",
    "LSTMCell", "LSTMSettings", "GRUCell", "GRUSettings", "SimpleRNNCell", "SimpleRNNSettings",
    "ConvLSTMCell", "ConvLSTMSettings", "as_kernel_cell", "zero_state", "is_zero_state",
]
