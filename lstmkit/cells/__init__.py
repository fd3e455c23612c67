"""Reference recurrent cells: plain tensor code that reads like the equations.

Each cell is a `torch.nn.Module` holding Keras-layout weights; fast paths elsewhere are
defined as giving the same numbers as these.
"""

from ._cell import RecurrentCell as RecurrentCell
from .conv_lstm import ConvLSTMCell as ConvLSTMCell
from .gru import GRUCell as GRUCell
from .lstm import LSTMCell as LSTMCell
from .simple_rnn import SimpleRNNCell as SimpleRNNCell

__all__ = ["RecurrentCell", "LSTMCell", "GRUCell", "SimpleRNNCell", "ConvLSTMCell"]
