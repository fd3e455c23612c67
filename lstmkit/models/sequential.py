"""`Sequential`: a stack of layers, each feeding the next, with Keras's model interface."""

from __future__ import annotations

import itertools
import os
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from ..layers.base import Layer, Shape, check_finite, to_tensor
from ..layers.bidirectional import Bidirectional
from ..layers.recurrent import Recurrent
from ..layers.input_layer import InputLayer
from ..layers.registry import deserialize, serialize
from .._checks import positive_int
from ..training.trainer import Trainer
from . import saving
from .summary import print_summary


class LayerList(nn.ModuleList):
    """An `nn.ModuleList` that holds lstmkit layers (typed so, for readers and type checkers)."""

    def __iter__(self) -> Iterator[Layer]:
        return super().__iter__()  # type: ignore[return-value]

    def __getitem__(self, index: Any) -> Any:
        return super().__getitem__(index)


class Sequential(Trainer):
    """A linear stack of layers, and a `torch.nn.Module`.

    The input shape comes from an `Input(shape=...)` given first, or from `input_shape=` on the
    first layer; every layer is then built as it is added. Without either, layers are built on
    the first call. Masks produced by `Masking` or `Embedding(mask_zero=True)` travel from layer
    to layer as in Keras.

    Args:
        layers: Layers to add in order; an `Input` may come first.
        name: The model's name (default `"sequential"`).

    >>> from lstmkit.layers import Input, LSTM, Dense
    >>> model = Sequential([Input(shape=(28, 28)), LSTM(16), Dense(10, activation="softmax")])
    >>> model.predict(np.zeros((3, 28, 28), dtype="float32")).shape
    (3, 10)
    """

    check_finite: bool = True  # refuse NaN and infinite inputs (set False to let them through)

    def __init__(self, layers: Iterable[Layer] | None = None, name: str | None = None) -> None:
        super().__init__()
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"Expected a non-empty string for name, got name={name!r}")
        self.name = name or "sequential"
        self.layers: LayerList = LayerList()
        self.input_layer: InputLayer | None = None
        for layer in layers or []:
            self.add(layer)

    # ---- building ------------------------------------------------------------------------------

    def add(self, layer: Layer) -> None:
        """Appends a layer (or sets the input with an `Input`) and builds it when the input shape is known."""
        if isinstance(layer, InputLayer):
            if len(self.layers) or self.input_layer is not None:
                raise ValueError("An Input can only be the first entry of a Sequential model")
            self.input_layer = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential.add expects an lstmkit layer, got {layer!r} of type {type(layer).__name__}"
            )
        if len(self.layers):
            previous = self.layers[-1]
            if getattr(previous, "return_state", False) or getattr(previous, "merge_mode", "concat") is None:
                raise ValueError(
                    f"Layer {previous.name!r} returns several tensors (return_state=True or merge_mode=None); "
                    "a Sequential model passes one tensor from layer to layer"
                )
        elif self.input_layer is None and layer.declared_input_shape is not None:
            self.input_layer = InputLayer(batch_shape=layer.declared_input_shape)
        self._give_unique_name(layer)
        self.layers.append(layer)
        if self.input_layer is not None:
            self._build_layers(self.input_layer.shape)

    def pop(self) -> Layer:
        """Removes and returns the last layer."""
        if not len(self.layers):
            raise ValueError(f"Sequential model {self.name!r} has no layers to pop")
        layer: Layer = self.layers[-1]
        del self.layers[-1]
        return layer

    def _give_unique_name(self, layer: Layer) -> None:
        taken = {existing.name for existing in self.layers}
        if layer.name not in taken:
            return
        if layer._given_name:
            raise ValueError(f"All layers in a Sequential model need unique names; {layer.name!r} is already used")
        base, suffix = layer.name, 1
        while f"{base}_{suffix}" in taken:
            suffix += 1
        layer.name = f"{base}_{suffix}"

    def _build_layers(self, input_shape: Shape) -> None:
        shape: Any = tuple(input_shape)
        for layer in self.layers:
            layer.ensure_built(shape)
            shape = layer.compute_output_shape(shape)

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Builds every layer for inputs of `input_shape` (batch first, e.g. `(None, 28, 28)`)."""
        if self.input_layer is None:
            self.input_layer = InputLayer(batch_shape=tuple(input_shape))
        self._build_layers(tuple(input_shape))

    @property
    def built(self) -> bool:
        return len(self.layers) > 0 and all(layer.built for layer in self.layers)

    @property
    def input_shape(self) -> Shape:
        if self.input_layer is None:
            raise ValueError(f"Sequential model {self.name!r} has no known input shape yet")
        return self.input_layer.shape

    @property
    def output_shape(self) -> Any:
        return self.layer_output_shapes()[-1]

    def layer_output_shapes(self) -> list[Any]:
        if self.input_layer is None or not self.built:
            raise ValueError(
                f"Sequential model {self.name!r} is not built yet: give an input shape "
                "(Input(shape=...) first, or input_shape=... on the first layer) or call it on data"
            )
        shapes, shape = [], self.input_layer.shape
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
            shapes.append(shape)
        return shapes

    # ---- the forward pass ----------------------------------------------------------------------

    @property
    def compute_dtype(self) -> torch.dtype:
        """The floating dtype of the weights (or, before they exist, the one asked for with `.double()`)."""
        for t in itertools.chain(self.parameters(), self.buffers()):
            if t.is_floating_point():
                return t.dtype
        return torch.get_default_dtype()

    @property
    def device(self) -> torch.device:
        for t in itertools.chain(self.parameters(), self.buffers()):
            return t.device
        return torch.device("cpu")

    def check_input_shape(self, shape: Sequence[int], argument: str = "x") -> None:
        """Raises ValueError when data of `shape` (batch first) does not fit the declared input."""
        if self.input_layer is None:
            return
        expected = self.input_layer.shape
        if len(shape) != len(expected) or any(e is not None and e != r for e, r in zip(expected[1:], shape[1:])):
            what = "time steps and features" if len(expected) == 3 else "sizes"
            raise ValueError(
                f"Sequential model {self.name!r} expects {argument} of shape {expected} (batch first; None: any "
                f"size), got {argument} of shape {tuple(shape)}: "
                + (f"rank {len(shape)}, not {len(expected)}" if len(shape) != len(expected)
                   else f"{what} {tuple(shape[1:])}, not {tuple(expected[1:])}")
            )

    def as_input(self, x: Any, argument: str = "x") -> torch.Tensor:
        """Converts and checks user data against the declared input; floats take the model's dtype.

        Raises:
            TypeError: For strings, objects and ragged lists.
            ValueError: For a shape that does not fit, and for NaN or infinite values unless
                `model.check_finite` is False.
        """
        x = to_tensor(x, argument, float_dtype=self.compute_dtype)
        self.check_input_shape(tuple(x.shape), argument)
        if self.check_finite:
            check_finite(x, argument)
        if self.input_layer is not None and self.input_layer.torch_dtype == torch.int64 and x.is_floating_point():
            x = x.long()
        return x.to(self.device)

    def forward(
        self, x: Any, mask: torch.Tensor | None = None, training: bool | None = None, logits: bool = False
    ) -> Any:
        """Runs the layers in turn; `logits=True` stops the last layer before its activation
        (only for a last layer whose `logits_activation()` is not None)."""
        return self.forward_with_mask(x, mask, training, logits)[0]

    def forward_with_mask(
        self, x: Any, mask: torch.Tensor | None = None, training: bool | None = None, logits: bool = False
    ) -> tuple[Any, torch.Tensor | None]:
        """`forward`, and the mask of the output: (batch, timesteps) booleans when a `Masking` or
        `Embedding(mask_zero=True)` mask reaches a sequence output, else None."""
        if not len(self.layers):
            raise ValueError(f"Sequential model {self.name!r} has no layers; add some with model.add(...)")
        x = self.as_input(x)
        if self.input_layer is None:
            self.input_layer = InputLayer(batch_shape=(None, *x.shape[1:]))
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            extra = {"logits": True} if logits and index == last else {}
            y = layer(x, mask=mask, training=training, **extra)
            mask = layer.compute_mask(x, mask)
            x = y
        return x, mask

    @torch.no_grad()
    def predict(self, x: Any, batch_size: int | None = 32, verbose: Any = 0, steps: int | None = None) -> Any:
        """Runs the model in inference mode (dropout off) over `x` in batches; returns numpy.

        Args:
            x: Inputs as a numpy array, torch tensor or nested list, batch first.
            batch_size: Samples per batch (default 32).
            verbose: Accepted for Keras compatibility.
            steps: Stop after this many batches.

        Returns:
            A numpy array, or a list of arrays for a model whose last layer returns several.
        """
        batch_size = positive_int("batch_size", 32 if batch_size is None else batch_size)
        if steps is not None:
            steps = positive_int("steps", steps)
        inputs = self.as_input(x)
        # training=False reaches every layer as an argument: the module's train/eval flag, which
        # another thread may flip at any moment, is neither read nor changed
        chunks = []
        for index, start in enumerate(range(0, inputs.shape[0], batch_size)):
            if steps is not None and index >= steps:
                break
            chunks.append(self(inputs[start : start + batch_size], training=False))
        if not chunks:
            raise ValueError(f"predict got no samples: x has shape {tuple(inputs.shape)}")
        if isinstance(chunks[0], (list, tuple)):
            return [torch.cat([c[i] for c in chunks]).cpu().numpy() for i in range(len(chunks[0]))]
        return torch.cat(chunks).cpu().numpy()

    # ---- weights -------------------------------------------------------------------------------

    def get_weights(self) -> list[np.ndarray]:
        """All layers' weights as numpy arrays, in Keras's order."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Loads a list of arrays in Keras's order, e.g. `keras_model.get_weights()`.

        Raises:
            ValueError: When the model is not built, or the count or any shape differs.
        """
        if not self.built:
            self.layer_output_shapes()  # raises the "not built" error
        weights = list(weights)
        counts = [len(layer.weights) for layer in self.layers]
        if len(weights) != sum(counts):
            per_layer = ", ".join(f"{layer.name}: {n}" for layer, n in zip(self.layers, counts))
            raise ValueError(
                f"Sequential model {self.name!r} expects {sum(counts)} weight arrays ({per_layer}), "
                f"got {len(weights)}"
            )
        start = 0
        for layer, n in zip(self.layers, counts):
            layer.set_weights(weights[start : start + n])
            start += n

    @property
    def weights(self) -> list[nn.Parameter]:
        return [w for layer in self.layers for w in layer.weights]

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, line_length: int | None = None, print_fn: Callable[[str], Any] | None = None) -> None:
        """Prints the Keras-style table of layers, output shapes and parameter counts."""
        print_summary(self, line_length, print_fn)

    # ---- states, penalties, configuration -------------------------------------------------------

    def reset_states(self) -> None:
        """Zeroes the carried states of every stateful layer."""
        for layer in self.layers:
            if isinstance(layer, (Recurrent, Bidirectional)) and layer.stateful:
                layer.reset_states()

    reset_state = reset_states

    @property
    def losses(self) -> list[torch.Tensor]:
        return [loss for layer in self.layers for loss in layer.losses]

    def apply_constraints(self) -> None:
        for layer in self.layers:
            layer.apply_constraints()

    def get_config(self) -> dict[str, Any]:
        entries = [serialize(layer) for layer in self.layers]
        if self.input_layer is not None:
            entries.insert(0, serialize(self.input_layer))
        return {"name": self.name, "layers": entries}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Sequential":
        return cls([deserialize(entry) for entry in config["layers"]], name=config.get("name"))

    # ---- files -------------------------------------------------------------------------------------

    def save(self, filepath: str | os.PathLike[str], overwrite: bool = True, extras: dict[str, Any] | None = None) -> None:
        """Writes one file with the architecture, weights and training state (see `lstmkit.models.saving`);
        `lstmkit.models.load_model(filepath)` reads it back. `extras`: JSON values kept beside the
        model (a tokenizer's `to_json()`, say), read back with `lstmkit.models.load_extras(filepath)`."""
        saving.save_model(self, filepath, overwrite=overwrite, extras=extras)

    def save_weights(self, filepath: str | os.PathLike[str], overwrite: bool = True) -> None:
        """Writes the weights alone, for `load_weights` on a model of the same architecture."""
        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath: str | os.PathLike[str]) -> None:
        """Loads weights written by `save_weights` (or `save`) into this built model."""
        saving.load_weights(self, filepath)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"
