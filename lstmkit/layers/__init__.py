"""Keras-named layers; each one is a `torch.nn.Module`, callable on tensors or on symbolic
tensors from `Input` (see `lstmkit.layers.symbolic`)."""

from .activation import ELU, LeakyReLU, PReLU, ReLU, Softmax
from .activation import Activation as Activation
from .attention import AdditiveAttention as AdditiveAttention
from .attention import Attention as Attention
from .base import Layer as Layer
from .bidirectional import Bidirectional as Bidirectional
from .conv_lstm import ConvLSTM2D as ConvLSTM2D
from .convolutional import Conv1D, Conv2D, Conv3D, Convolution1D, Convolution2D, Convolution3D
from .dense import Dense as Dense
from .dropout import Dropout as Dropout
from .dropout import SpatialDropout1D as SpatialDropout1D
from .embedding import Embedding as Embedding
from .gru import GRU as GRU
from .gru import CuDNNGRU as CuDNNGRU
from .input_layer import Input as Input
from .input_layer import InputLayer as InputLayer
from .lambda_layer import Lambda as Lambda
from .lstm import LSTM as LSTM
from .lstm import CuDNNLSTM as CuDNNLSTM
from .masking import Masking as Masking
from .merging import Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract
from .merging import add, average, concatenate, dot, maximum, minimum, multiply, subtract
from .noise import GaussianDropout as GaussianDropout
from .noise import GaussianNoise as GaussianNoise
from .normalization import BatchNormalization as BatchNormalization
from .normalization import LayerNormalization as LayerNormalization
from .normalization import Normalization as Normalization
from .pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D, AvgPool1D, AvgPool2D, AvgPool3D,
                      GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAvgPool1D, GlobalAvgPool2D,
                      GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPool1D, MaxPool2D,
                      MaxPool3D, MaxPooling1D, MaxPooling2D, MaxPooling3D)
from .recurrent import Recurrent as Recurrent
from .registry import deserialize as deserialize
from .reshaping import Flatten as Flatten
from .reshaping import Permute as Permute
from .reshaping import RepeatVector as RepeatVector
from .reshaping import Reshape as Reshape
from .registry import serialize as serialize
from .resizing import UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D
from .rnn import RNN, GRUCell, LSTMCell, SimpleRNNCell
from .simple_rnn import SimpleRNN as SimpleRNN
from .time_distributed import TimeDistributed as TimeDistributed
from .lookup import IntegerLookup, StringLookup
from .text_vectorization import TextVectorization as TextVectorization

__all__ = [
    "Layer",
    "TextVectorization", "StringLookup", "IntegerLookup",
    "Recurrent",
    "LSTM",
    "CuDNNLSTM",
    "GRU",
    "CuDNNGRU",
    "RNN", "LSTMCell", "GRUCell", "SimpleRNNCell",
    "ConvLSTM2D",
    "SimpleRNN",
    "Bidirectional",
    "TimeDistributed",
    "Dense",
    "Dropout",
    "SpatialDropout1D",
    "GaussianNoise",
    "GaussianDropout",
    "Conv1D", "Conv2D", "Conv3D", "Convolution1D", "Convolution2D", "Convolution3D",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D",
    "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalAvgPool1D", "GlobalAvgPool2D",
    "BatchNormalization",
    "LayerNormalization",
    "Normalization",
    "ZeroPadding1D", "ZeroPadding2D", "UpSampling1D", "UpSampling2D",
    "Embedding",
    "Masking",
    "Activation",
    "Attention", "AdditiveAttention",
    "ReLU", "LeakyReLU", "ELU", "Softmax", "PReLU",
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
