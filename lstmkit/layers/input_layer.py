"""`Input`: declares the shape (and dtype) of a model's samples; `InputLayer`, the layer behind it."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from .._checks import positive_int, shape_tuple
from .base import Layer
from .symbolic import SymbolicTensor, input_tensor

_DTYPES = {
    "float32": torch.float32, "float64": torch.float64, "float16": torch.float16, "bfloat16": torch.bfloat16,
    "int32": torch.int64, "int64": torch.int64, "int16": torch.int64, "int8": torch.int64, "uint8": torch.int64,
    "bool": torch.bool, "string": None,  # text: a StringTensor, for a first layer that reads text
}


class InputLayer(Layer):
    """A model's input: no weights, it passes data through. `layer.output` is the symbolic tensor
    that `Input(...)` returns; a `Sequential` takes either as its first entry.

    Integer dtypes all arrive as int64 tensors, the index type torch's lookups need.
    """

    def __init__(
        self,
        shape: Sequence[int | None] | None = None,
        *,
        batch_size: int | None = None,
        dtype: Any = None,
        batch_shape: Sequence[int | None] | None = None,
        name: str | None = None,
        input_shape: Sequence[int | None] | None = None,
        batch_input_shape: Sequence[int | None] | None = None,
    ) -> None:
        shape = input_shape if shape is None else shape  # Keras 2's names
        batch_shape = batch_input_shape if batch_shape is None else batch_shape
        if (shape is None) == (batch_shape is None):
            raise ValueError("Input needs exactly one of shape= or batch_shape=, e.g. Input(shape=(28, 28))")
        super().__init__(name=name)  # default: "input_layer"
        if batch_shape is not None:
            self.declared_input_shape = shape_tuple("batch_shape", batch_shape)
        else:
            size = None if batch_size is None else positive_int("batch_size", batch_size)
            self.declared_input_shape = (size, *shape_tuple("shape", shape))
        key = str(dtype).replace("torch.", "") if dtype is not None else "float32"
        key = "string" if key in ("tf.string", "str", "<class 'str'>", "object") else key
        if key not in _DTYPES:
            raise ValueError(f"Unsupported dtype for Input: dtype={dtype!r}; use one of {', '.join(_DTYPES)}")
        self.dtype_name = key
        self.built = True
        self.input_shape_built = self.declared_input_shape
        input_tensor(self, self.declared_input_shape, key)  # becomes `self.output`

    @property
    def shape(self) -> tuple[int | None, ...]:
        assert self.declared_input_shape is not None
        return self.declared_input_shape

    @property
    def torch_dtype(self) -> torch.dtype | None:
        """The dtype inputs are converted to (None for text, which stays text)."""
        return _DTYPES[self.dtype_name]

    def call(self, x: Any, *, mask: torch.Tensor | None = None, training: bool = False, **kwargs: Any) -> Any:
        return x

    def get_config(self) -> dict[str, Any]:
        return {"batch_shape": self.shape, "dtype": self.dtype_name, "name": self.name}


def Input(
    shape: Sequence[int | None] | None = None,
    batch_size: int | None = None,
    dtype: Any = None,
    *,
    batch_shape: Sequence[int | None] | None = None,
    name: str | None = None,
    tensor: Any = None,
    sparse: Any = None,
) -> SymbolicTensor:
    """A model's input, as a symbolic tensor: `x = Input(shape=(None, 4)); y = LSTM(8)(x)`, and
    also the first entry of a `Sequential([Input(shape=(28, 28)), LSTM(128), ...])`.

    Args:
        shape: One sample's shape, without the batch; None for a size that varies (timesteps).
        batch_size: A fixed batch size (stateful layers need one).
        dtype: `"float32"` (default), `"int32"`/`"int64"` for ids, ... or a torch dtype.
        batch_shape: The shape with the batch first, instead of `shape` and `batch_size`.
        name: A name for the input (the key of its data in a dict given to `fit`/`predict`).

    >>> Input(shape=(28, 28)).shape
    (None, 28, 28)
    """
    for argument, value in (("tensor", tensor), ("sparse", sparse)):
        if value:
            raise ValueError(f"Input({argument}=...) is not supported: lstmkit's inputs are dense and fed at run time")
    made: SymbolicTensor = InputLayer(shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name).output
    return made
