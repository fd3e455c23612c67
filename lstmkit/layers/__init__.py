"""Keras-named layers; each one is a `torch.nn.Module`."""

from .base import Layer as Layer
from .bidirectional import Bidirectional as Bidirectional
from .dense import Dense as Dense
from .dropout import Dropout as Dropout
from .embedding import Embedding as Embedding
from .gru import GRU as GRU
from .input_layer import Input as Input
from .input_layer import InputLayer as InputLayer
from .lstm import LSTM as LSTM
from .lstm import CuDNNLSTM as CuDNNLSTM
from .masking import Masking as Masking
from .recurrent import Recurrent as Recurrent
from .registry import deserialize as deserialize
from .registry import serialize as serialize
from .simple_rnn import SimpleRNN as SimpleRNN
from .time_distributed import TimeDistributed as TimeDistributed

__all__ = [
    "Layer",
    "Recurrent",
    "LSTM",
    "CuDNNLSTM",
    "GRU",
    "SimpleRNN",
    "Bidirectional",
    "TimeDistributed",
    "Dense",
    "Dropout",
    "Embedding",
    "Masking",
    "Input",
    "InputLayer",
    "serialize",
    "deserialize",
]
