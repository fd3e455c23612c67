"""Keras-named layers; each one is a `torch.nn.Module`, callable on tensors or on symbolic
tensors from `Input` (see `lstmkit.layers.symbolic`)."""

from .activation import Activation as Activation
from .base import Layer as Layer
from .bidirectional import Bidirectional as Bidirectional
from .dense import Dense as Dense
from .dropout import Dropout as Dropout
from .embedding import Embedding as Embedding
from .gru import GRU as GRU
from .input_layer import Input as Input
from .input_layer import InputLayer as InputLayer
from .lambda_layer import Lambda as Lambda
from .lstm import LSTM as LSTM
from .lstm import CuDNNLSTM as CuDNNLSTM
from .masking import Masking as Masking
from .merging import Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract
from .merging import add, average, concatenate, dot, maximum, minimum, multiply, subtract
from .recurrent import Recurrent as Recurrent
from .registry import deserialize as deserialize
from .reshaping import Flatten as Flatten
from .reshaping import Permute as Permute
from .reshaping import RepeatVector as RepeatVector
from .reshaping import Reshape as Reshape
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
    "Activation",
    "Lambda",
    "RepeatVector",
    "Flatten",
    "Reshape",
    "Permute",
    "Concatenate",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Dot",
    "concatenate",
    "add",
    "subtract",
    "multiply",
    "average",
    "maximum",
    "minimum",
    "dot",
    "Input",
    "InputLayer",
    "serialize",
    "deserialize",
]
