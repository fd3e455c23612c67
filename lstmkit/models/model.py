"""`Model`: a graph of layers from symbolic inputs to outputs (Keras's functional API), and the
model interface `Sequential` shares: predict, weights, summary, files, and training (`Trainer`).

    encoder_inputs = Input(shape=(None, 12))
    _, h, c = LSTM(64, return_state=True)(encoder_inputs)
    decoder_inputs = Input(shape=(None, 12))
    decoded = LSTM(64, return_sequences=True)(decoder_inputs, initial_state=[h, c])
    model = Model([encoder_inputs, decoder_inputs], Dense(12, activation="softmax")(decoded))

A model is also a layer: `model(x)` on tensors runs it, on symbolic tensors adds it to another
graph (its weights shared), and `TimeDistributed(model)` applies it to every step.

Data for a model of several inputs (or outputs) is a list in the order of `model.inputs` (or
`model.outputs`), or a dict by name: an input's name is its `Input`'s (`name=`), or the dict key
when the inputs were given as a dict; an output's is its layer's (or the key).
"""

from __future__ import annotations

import itertools
import json
import os
import warnings
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .. import _memory, _threads, serialization
from .._checks import positive_int
from ..data.strings import StringTensor
from ..layers.base import Layer, Shape, check_finite, copy_checked, to_tensor
from ..layers.embedding import Embedding, ids_checked
from ..layers.input_layer import InputLayer
from ..layers.registry import deserialize, serialize
from ..layers.symbolic import Node, SymbolicTensor, map_structure
from ..saving import archive, weights
from ..training.data import TorchData, is_torch_data, structure
from ..training.device_batches import looks_ahead, prefetched, to_device
from ..training.model_file import model_state
from ..training.trainer import Trainer
from . import keras_files
from .graph import trace
from .keras2_methods import Keras2Methods
from .summary import print_summary


class LayerList(nn.ModuleList):
    """An `nn.ModuleList` that holds lstmkit layers (typed so, for readers and type checkers)."""

    def __iter__(self) -> Iterator[Layer]:
        return super().__iter__()  # type: ignore[return-value]

    def __getitem__(self, index: Any) -> Any:
        return super().__getitem__(index)


def _as_list(value: Any, argument: str) -> tuple[list[SymbolicTensor], list[str] | None, bool]:
    """(tensors, dict keys or None, given as one tensor) of a model's inputs or outputs."""
    if isinstance(value, SymbolicTensor):
        return [value], None, True
    if isinstance(value, Mapping):
        keys, tensors = [str(k) for k in value], list(value.values())
    elif isinstance(value, (list, tuple)):
        keys, tensors = None, list(value)
    else:
        raise TypeError(f"Model's {argument} must be symbolic tensors (from Input or a layer call), a list or a dict of "
                        f"them, got {type(value).__name__}")
    for index, t in enumerate(tensors):
        if not isinstance(t, SymbolicTensor):
            raise TypeError(f"Model's {argument}[{index}] must be a symbolic tensor (from Input or a layer call), got "
                            f"{type(t).__name__}" + (": a layer itself? call it on a tensor" if isinstance(t, Layer) else ""))
    if not tensors:
        raise ValueError(f"Model needs at least one tensor in {argument}")
    return tensors, keys, False


def _unique(names: list[str]) -> list[str]:
    """`names` with repeats numbered: ["dense", "dense"] -> ["dense", "dense_1"]."""
    out: list[str] = []
    for name in names:
        candidate, n = name, 1
        while candidate in out:
            candidate, n = f"{name}_{n}", n + 1
        out.append(candidate)
    return out


class Model(Layer, Trainer, Keras2Methods):
    """A graph of layers from `inputs` to `outputs`, with Keras's model interface; a
    `torch.nn.Module` and a layer.

    Args:
        inputs: The model's inputs: a symbolic tensor from `Input`, a list or a dict of them.
        outputs: Symbolic tensors computed from the inputs: one, a list or a dict.
        name: The model's name (default "functional", as Keras 3 names it).

    Raises:
        ValueError: An output that does not depend on the inputs, an `Input` used but not listed,
            two layers with one name, a cycle; nothing is changed when it raises.
    """

    check_finite: bool = True  # refuse NaN and infinite inputs (set False to let them through)
    subclassed = False  # a class of the program's own that defines call (lstmkit.models.subclassed)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A program's own subclass that defines `call` gets `SubclassedModel`'s behaviour: it is
        put between the class and `Model` (see `lstmkit.models.subclassed`)."""
        super().__init_subclass__(**kwargs)
        base = Model.__dict__.get("subclass_base")
        if base is not None and "call" in cls.__dict__ and not issubclass(cls, base) \
                and not cls.__module__.startswith("lstmkit."):
            cls.__bases__ = tuple(base if b is Model else b for b in cls.__bases__)

    def __init__(self, inputs: Any = None, outputs: Any = None, name: str | None = None, **kwargs: Any) -> None:
        if "input" in kwargs or "output" in kwargs:  # Keras 1's names, which Keras 2 took with a warning
            warnings.warn("Update your `Model` call to the Keras 2 API: `Model(inputs=..., outputs=...)`", UserWarning,
                          stacklevel=2)
            inputs = kwargs.pop("input", inputs)
            outputs = kwargs.pop("output", outputs)
        if (inputs is None) != (outputs is None):
            raise ValueError("Model(inputs, outputs) needs both: the symbolic inputs and the outputs computed from them")
        unknown = sorted(set(kwargs) - {"trainable"})
        if unknown:
            raise TypeError(f"Model got unexpected argument(s) {unknown}")
        if inputs is None:
            super().__init__(name=name or "functional", **kwargs)
            self._given_name = name is not None
            self.layers: LayerList = LayerList()
            return
        in_tensors, in_keys, single_input = _as_list(inputs, "inputs")
        out_tensors, out_keys, single_output = _as_list(outputs, "outputs")
        graph = trace(in_tensors, out_tensors, name or "functional")
        renames = self._unique_layer_names(graph.layers, name or "functional")
        super().__init__(name=name or "functional", **kwargs)
        self._given_name = name is not None
        self._single_input, self._single_output = single_input, single_output
        for layer, new_name in renames:
            layer.name = new_name
        self._inputs, self._outputs = in_tensors, out_tensors
        self._input_keys, self._output_keys = in_keys, out_keys
        self.nodes = graph.nodes
        self.layers = LayerList(graph.layers)

    @staticmethod
    def _unique_layer_names(layers: list[Layer], model_name: str) -> list[tuple[Layer, str]]:
        """The renames that give every layer its own name (a name given by the user is kept; two
        layers given one name are a ValueError)."""
        given: dict[str, Layer] = {}
        for layer in layers:
            if layer._given_name:
                if layer.name in given:
                    raise ValueError(f"Model {model_name!r} has two layers named {layer.name!r} "
                                     f"({type(given[layer.name]).__name__} and {type(layer).__name__}): layer names must "
                                     "be unique in a model")
                given[layer.name] = layer
        taken = {layer.name for layer in layers if layer._given_name}
        renames = []
        # per name, the first suffix not yet found taken: names are never freed, so the next layer
        # of that name searches on from there (one pass, where 24,000 layers of one name took 43 s)
        next_suffix: dict[str, int] = {}
        for layer in layers:
            if layer._given_name:
                continue
            base = candidate = layer.name
            n = next_suffix.get(base, 1)
            if candidate in taken:
                candidate = f"{base}_{n}"
                while candidate in taken:
                    n += 1
                    candidate = f"{base}_{n}"
                next_suffix[base] = n + 1
            taken.add(candidate)
            if candidate != layer.name:
                renames.append((layer, candidate))
        return renames

    # ---- the graph -----------------------------------------------------------------------------

    @property
    def built(self) -> bool:
        """Whether every layer has its weights."""
        return len(self.layers) > 0 and all(layer.built for layer in self.layers)

    @built.setter
    def built(self, value: bool) -> None:
        """A model is built when its layers are; the flag `Layer` keeps is not needed."""

    @property
    def inputs(self) -> list[SymbolicTensor]:
        """The model's symbolic inputs, one per input."""
        return list(self._inputs)

    @property
    def outputs(self) -> list[SymbolicTensor]:
        """The model's symbolic outputs, one per output."""
        return list(self._outputs)

    @property
    def input_names(self) -> list[str]:  # type: ignore[override]
        """One name per input: its key when the inputs were a dict, else its input layer's name."""
        return list(self._input_keys) if self._input_keys is not None else _unique([t.layer.name for t in self._inputs])

    @property
    def output_names(self) -> list[str]:  # type: ignore[override]
        """One name per output: its key when the outputs were a dict, else its layer's name."""
        return list(self._output_keys) if self._output_keys is not None else _unique([t.layer.name for t in self._outputs])

    @property
    def input(self) -> Any:
        """The symbolic input, or a list (dict) of them as the model was given them."""
        return self._inputs[0] if self._single_input else self._restructure(self._inputs, self._input_keys)

    @property
    def output(self) -> Any:
        return self._outputs[0] if self._single_output else self._restructure(self._outputs, self._output_keys)

    @property
    def input_shape(self) -> Any:
        shapes = [t.shape for t in self._inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> Any:
        shapes = [t.shape for t in self._outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shapes(self) -> list[Any]:
        """Each output's shape, batch first."""
        return [t.shape for t in self._outputs]

    @staticmethod
    def _restructure(values: list[Any], keys: list[str] | None) -> Any:
        return dict(zip(keys, values)) if keys is not None else list(values)

    def _structured_outputs(self, values: list[Any]) -> Any:
        return values[0] if self._single_output else self._restructure(values, self._output_keys)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer called `name`, or at `index` in `model.layers`."""
        if (name is None) == (index is None):
            raise ValueError("get_layer needs exactly one of name= or index=")
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, int) or not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"Model {self.name!r} has {len(self.layers)} layers; got index={index!r}")
            return self.layers[index]  # type: ignore[no-any-return]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"Model {self.name!r} has no layer named {name!r}; its layers are "
                         f"{[layer.name for layer in self.layers]}")

    # ---- running it ----------------------------------------------------------------------------

    @property
    def compute_dtype(self) -> torch.dtype:
        """The floating dtype of the weights (or, before they exist, the one asked for with `.double()`)."""
        for t in itertools.chain(self.parameters(), self.buffers()):
            if t.is_floating_point():
                return t.dtype
        return torch.get_default_dtype()

    @property
    def device(self) -> torch.device:
        """The device of the weights (the CPU for a model without any)."""
        for t in itertools.chain(self.parameters(), self.buffers()):
            return t.device
        return torch.device("cpu")

    def _input_dtype(self, index: int) -> torch.dtype | None:
        layer = self._inputs[index].layer
        return layer.torch_dtype if isinstance(layer, InputLayer) else None

    def check_inputs(self, shapes: Sequence[Sequence[int]], argument: str = "x") -> None:
        """Raises ValueError when data of `shapes` (one per input, batch first) does not fit."""
        names = self.input_names
        for index, (shape, t) in enumerate(zip(shapes, self._inputs)):
            expected = t.shape
            label = argument if len(names) == 1 else f"{argument}[{names[index]!r}]"
            if len(shape) != len(expected) or any(e is not None and e != r for e, r in zip(expected[1:], shape[1:])):
                axis = next((a for a, (e, r) in enumerate(zip(expected, shape)) if a and e is not None and e != r), None)
                raise ValueError(
                    f"Model {self.name!r} expects {label} of shape {expected} (batch first; None: any size), got "
                    f"{label} of shape {tuple(shape)}: "
                    + (f"rank {len(shape)}, not {len(expected)}" if len(shape) != len(expected)
                       else f"axis {axis} has {shape[axis]}, not {expected[axis]}")  # type: ignore[index]
                )
            if shape and len(shapes) > 1 and shape[0] != shapes[0][0]:
                raise ValueError(f"Every input needs the same number of samples; {label} has {shape[0]}, the first has "
                                 f"{shapes[0][0]}")

    def text_inputs(self) -> list[bool]:
        """Which inputs are text (declared with `Input(..., dtype="string")`)."""
        return [isinstance(t.layer, InputLayer) and t.layer.dtype_name == "string" for t in self._inputs]

    def _input_shape_of(self, index: int) -> Shape | None:
        """The shape input `index` was declared with (None where the model does not know it yet)."""
        return self._inputs[index].shape

    def shaped_text(self, index: int, x: Any) -> StringTensor:
        """Strings for text input `index`: shape (batch,) given for a declared (batch, 1) gets
        its trailing axis, as in Keras."""
        strings: Any = StringTensor.of(x)
        declared = self._input_shape_of(index)
        if strings.ndim == 1 and declared is not None and len(declared) == 2:
            strings = strings.reshape(-1, 1)
        return strings

    def adapt_inputs(self, xs: list[Any], argument: str = "x", check: bool = True, place: bool = True) -> list[Any]:
        """The inputs converted (floats to the model's dtype, ids to int64), checked and on the
        model's device; text inputs as StringTensors (a batch of strings of shape (batch,) given
        for an input of shape (batch, 1) gets its trailing axis). `check`: refuse NaN and infinite
        values (with `check_finite`): where data enters `fit`, `evaluate` and `predict`, not in
        `forward`, whose graph (`torch.compile`, `torch.export`) holds no test of the data."""
        names = self.input_names
        out: list[Any] = []
        text = self.text_inputs()
        for index, x in enumerate(xs):
            if text[index]:
                out.append(self.shaped_text(index, x))
                continue
            t = self.input_tensor(x, argument if len(names) == 1 else f"{argument}[{names[index]!r}]", check, place)
            out.append(self._as_declared_ids(index, t))
        self.check_inputs([tuple(t.shape) for t in out], argument)
        return out

    def input_tensor(self, x: Any, label: str, check: bool = True, place: bool = True) -> torch.Tensor:
        """One input as a tensor on the model's device (`place`; else where it is) with floats in
        its dtype, checked finite (`check` and `check_finite`)."""
        t = to_tensor(x, label, float_dtype=self.compute_dtype)
        if check and self.check_finite:
            check_finite(t, label)
        return to_device(t, self.device) if place else t

    def as_inputs(self, x: Any, argument: str = "x", check: bool = True, place: bool = True) -> list[torch.Tensor]:
        """User data (an array; a list or dict for several inputs) as checked tensors, one per
        input (`check`, `place`: see `adapt_inputs`)."""
        return self.adapt_inputs(structure(x, self.input_names, argument), argument, check, place)

    def ensure_built_for(self, xs: list[torch.Tensor]) -> None:
        """A functional model is built by its construction."""

    def output_activations(self) -> list[Any]:
        """Per output, the activation its layer ends in when it can stop before it (for losses from logits), else None."""
        found = []
        for t in self._outputs:
            node = t.node
            single = len(node.outputs) == 1 and not node.is_input
            found.append(node.layer.logits_activation() if single else None)
        return found

    def run(self, xs: list[torch.Tensor], training: bool = False, logits: Sequence[bool] | None = None,
            input_masks: Sequence[Any] | None = None) -> tuple[list[Any], list[torch.Tensor | None]]:
        """Each output and its mask for the inputs `xs` (one tensor per input, checked), running
        the layer calls in order; `logits[i]`: output i before its layer's final activation;
        `input_masks`: the masks arriving with the inputs (a model inside another), as Keras
        passes them on."""
        values: dict[int, Any] = {}
        masks: dict[int, Any] = {}
        for i, (t, x) in enumerate(zip(self._inputs, xs)):
            values[id(t)], masks[id(t)] = x, None if input_masks is None else input_masks[i]
        want = {id(self._outputs[i].node) for i, flag in enumerate(logits or []) if flag}
        logit_values: dict[int, torch.Tensor] = {}
        value_of = (lambda t: values[id(t)])
        for node in self.nodes:
            x = map_structure(value_of, node.args)
            mask = map_structure(lambda t: masks[id(t)], node.args)
            if isinstance(mask, list) and all(m is None for m in mask):
                mask = None
            kwargs = {k: map_structure(value_of, v) for k, v in node.kwargs.items() if k not in ("mask", "training")}
            if "mask" in node.kwargs:
                mask = map_structure(value_of, node.kwargs["mask"])
            fixed = node.kwargs.get("training")
            run_training = training if fixed is None else bool(fixed)
            layer = node.layer
            if id(node) in want:
                z = layer(x, mask=mask, training=run_training, logits=True, **kwargs)
                logit_values[id(node)] = z
                y = layer.logits_activation()(z)
            else:
                y = layer(x, mask=mask, training=run_training, **kwargs)
            out_mask = layer.compute_mask(x, mask)
            ys = list(y) if isinstance(y, (list, tuple)) else [y]
            out_masks = list(out_mask) if isinstance(out_mask, (list, tuple)) else [out_mask] * len(ys)
            for t, value, m in zip(node.outputs, ys, out_masks):
                values[id(t)], masks[id(t)] = value, m
        outs = [logit_values[id(t.node)] if logits and logits[i] else values[id(t)] for i, t in enumerate(self._outputs)]
        return outs, [masks[id(t)] for t in self._outputs]

    def forward(self, x: Any, mask: Any = None, training: bool | None = None, logits: bool = False, **kwargs: Any) -> Any:
        """Runs the model on tensors or arrays (a list or dict for several inputs); returns its
        output, or a list (dict) of outputs. As a layer of another model, the `mask` arriving
        with its input goes on to the layers that read it, as in Keras."""
        if kwargs:
            raise TypeError(f"Model {self.name!r} takes no call argument(s) {sorted(kwargs)}")
        xs = self.as_inputs(x, check=False)
        input_masks = None
        if mask is not None:
            input_masks = list(mask) if isinstance(mask, (list, tuple)) and len(xs) > 1 else [mask] * len(xs)
        outs, _ = self.run(xs, training=self.training if training is None else bool(training),
                           logits=[logits] * len(self._outputs) if logits else None, input_masks=input_masks)
        return self._structured_outputs(outs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        batch = input_shape[0][0] if isinstance(input_shape, list) else input_shape[0]
        shapes = [(batch, *t.shape[1:]) for t in self._outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def check_input_shape(self, input_shape: Any, argument: str = "x") -> None:
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        if len(shapes) != len(self._inputs):
            raise ValueError(f"Model {self.name!r} takes {len(self._inputs)} inputs, got {len(shapes)}")
        self.check_inputs([tuple(s) for s in shapes], argument)

    def compute_mask(self, x: Any, mask: Any) -> None:
        return None

    @torch.no_grad()
    def predict(self, x: Any, batch_size: int | None = 32, verbose: Any = 0, steps: int | None = None) -> Any:
        """Runs the model in inference mode (dropout off) over `x` in batches; returns numpy.

        Args:
            x: Inputs as a numpy array, torch tensor or nested list, batch first; a list or dict of
                them for a model of several inputs. Or a source of batches (a generator, a
                `Sequence`, a torch DataLoader) whose items are `x` or `(x, ...)`.
            batch_size: Samples per batch (default 32; a source of batches keeps its own).
            verbose: Accepted for Keras compatibility.
            steps: Stop after this many batches.

        Returns:
            A numpy array, or a list (or dict) of arrays for a model of several outputs.
        """
        batch_size = positive_int("batch_size", 32 if batch_size is None else batch_size)
        if steps is not None:
            steps = positive_int("steps", steps)
        # training=False reaches every layer as an argument: the module's train/eval flag, which
        # another thread may flip at any moment, is neither read nor changed
        chunks: list[list[Any]] = []
        _memory.keep_freed_memory()
        device = self.device
        batches = itertools.islice(self._predict_batches(x, batch_size), steps)
        checked: list[Embedding] | None = None  # their ids: `_predict_batches` checks them
        with _threads.governed() as governor:
            for batch in prefetched(batches, lambda b: to_device(b, device), device, looks_ahead(device)):
                governor.tick()
                if checked is None:  # a Sequential without an input shape is built by its first batch
                    checked = self.id_readers()
                with ids_checked(checked):
                    outs, _ = self.run(batch, training=False)
                chunks.append(outs)
        if not chunks:
            raise ValueError(f"predict got no samples from x={type(x).__name__}"
                             + (f" of shape {tuple(np.shape(x))}" if hasattr(x, "shape") else ""))
        joined = [_join([c[i] for c in chunks]) for i in range(len(chunks[0]))]
        return self._structured_outputs(joined)

    def _predict_batches(self, x: Any, batch_size: int) -> Iterator[list[torch.Tensor]]:
        if is_torch_data(x):
            for item in TorchData(x).items(batch_size):  # a tuple is (x, y[, sample_weight]), as in Keras
                xs = self.as_inputs(item[0] if isinstance(item, tuple) else item, place=False)
                self.check_input_ids(xs)
                yield xs
            return
        xs = self.as_inputs(x, place=False)  # in host memory; each batch goes to the device in turn
        self.check_input_ids(xs)
        for start in range(0, xs[0].shape[0], batch_size):
            yield [t[start : start + batch_size] for t in xs]

    # ---- weights -------------------------------------------------------------------------------

    @property
    def weights(self) -> list[nn.Parameter]:
        return [w for layer in self.layers for w in layer.weights]

    def get_weights(self) -> list[np.ndarray]:
        """All layers' weights as numpy arrays, in Keras's order."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def checked_weights(self, weights: Sequence[Any]) -> list[tuple[torch.Tensor, np.ndarray]]:
        """Every layer's (weight, array) pairs, all checked before any weight is set.

        Raises:
            ValueError: When the model is not built, or the count or any shape differs.
        """
        self.require_built_for_weights()
        weights = list(weights)
        counts = [len(layer.weights) for layer in self.layers]
        if len(weights) != sum(counts):
            per_layer = ", ".join(f"{layer.name}: {n}" for layer, n in zip(self.layers, counts) if n)
            raise ValueError(f"{self.kind_name()} {self.name!r} expects {sum(counts)} weight arrays ({per_layer}), "
                             f"got {len(weights)}")
        pairs, start = [], 0
        for layer, n in zip(self.layers, counts):
            pairs += layer.checked_weights(weights[start : start + n])
            start += n
        return pairs

    def require_built_for_weights(self) -> None:
        """Raises ValueError when the model has no weights yet."""
        if not self.built:
            raise ValueError(f"Model {self.name!r} is not built yet: give it an input shape or call it on data first")

    def kind_name(self) -> str:
        """What the model is called in messages."""
        return "Model"

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Loads a list of arrays in Keras's order, e.g. `keras_model.get_weights()`: all of them
        or, when any count or shape differs, none (the error names it)."""
        copy_checked(self.checked_weights(weights))

    def count_params(self) -> int:
        """The number of weights, trainable or not."""
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, line_length: int | None = None, print_fn: Callable[[str], Any] | None = None) -> None:
        """Prints the Keras-style table of layers, output shapes, parameter counts (and, for a
        graph, the tensors each layer is called on)."""
        print_summary(self, line_length, print_fn)

    # ---- states, penalties ----------------------------------------------------------------------

    def reset_states(self) -> None:
        """Zeroes the carried states of every stateful layer."""
        for layer in self.layers:
            if getattr(layer, "stateful", False) or isinstance(layer, Model):
                layer.reset_states()  # type: ignore[operator]

    reset_state = reset_states

    @property
    def losses(self) -> list[torch.Tensor]:
        return [loss for layer in self.layers for loss in layer.losses]

    def apply_constraints(self) -> None:
        for layer in self.layers:
            layer.apply_constraints()

    # ---- configuration and files --------------------------------------------------------------

    def input_readers(self) -> list[list[Layer]]:
        """Per input, the layers that read it as given: every call of theirs in this model takes
        that input alone (an Embedding first in a Sequential; one on an Input of a graph)."""
        index = {id(t): i for i, t in enumerate(self._inputs)}
        reads: dict[int, tuple[Layer, set[int | None]]] = {}
        for node in self.nodes:
            args = node.input_tensors()
            read = index.get(id(args[0])) if len(args) == 1 else None
            reads.setdefault(id(node.layer), (node.layer, set()))[1].add(read)
        readers: list[list[Layer]] = [[] for _ in self._inputs]
        for layer, inputs in reads.values():
            if len(inputs) == 1 and None not in inputs:
                readers[next(iter(inputs))].append(layer)  # type: ignore[index]
        return readers

    def id_readers(self) -> list[Embedding]:
        """The Embedding layers that read an input as given."""
        return [layer for _, layer in self._id_readers()]

    def _id_readers(self) -> list[tuple[int, Embedding]]:
        return [(i, layer) for i, layers in enumerate(self.input_readers()) for layer in layers
                if isinstance(layer, Embedding)]

    def check_input_ids(self, xs: Sequence[Any]) -> None:
        """Checks the ids each `id_readers` layer will get from `xs` (converted as `adapt_inputs`
        converts them), all at once: where data enters `fit`, `evaluate` and `predict`, as
        `check_finite` does, so that their steps can skip the check (`embedding.ids_checked`),
        which on a GPU makes the host wait for the device."""
        for index, layer in self._id_readers():
            t = xs[index]
            if isinstance(t, torch.Tensor):
                layer.check_ids(self._as_declared_ids(index, t))

    def _as_declared_ids(self, index: int, t: torch.Tensor) -> torch.Tensor:
        """Input `index` as the model takes it: floats cut to int64 for an Input declared int64."""
        return t.long() if self._input_dtype(index) == torch.int64 and t.is_floating_point() else t

    def layer_calls(self) -> tuple[dict[int, int], dict[int, list[Node]]]:
        """Each call's number among its layer's calls in this model (by `id(node)`), and each
        layer's calls here in run order (by `id(layer)`); an input layer's one call is number 0."""
        numbers: dict[int, int] = {}
        calls: dict[int, list[Node]] = {id(layer): [] for layer in self.layers}
        for node in [t.node for t in self._inputs if t.node.is_input] + self.nodes:
            layer_calls = calls.setdefault(id(node.layer), [])  # a Sequential's input layer is not in its layers
            numbers[id(node)] = len(layer_calls)
            layer_calls.append(node)
        return numbers, calls

    def get_config(self) -> dict[str, Any]:
        """The graph: each layer's configuration, each call (`[layer, call, output]` references
        to the tensors it reads), and the inputs and outputs as references."""
        node_number, _ = self.layer_calls()

        def ref(t: SymbolicTensor) -> list[Any]:
            return [t.layer.name, node_number[id(t.node)], t.index]

        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": [serialize(layer) for layer in self.layers],
            "nodes": [{"layer": node.layer.name, "args": map_structure(ref, node.args),
                       "kwargs": {k: map_structure(ref, v) for k, v in node.kwargs.items()}} for node in self.nodes],
            "inputs": self._restructure([ref(t) for t in self._inputs], self._input_keys) if not self._single_input
            else ref(self._inputs[0]),
            "outputs": self._restructure([ref(t) for t in self._outputs], self._output_keys) if not self._single_output
            else ref(self._outputs[0]),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Model":
        """Rebuilds the graph `get_config` describes (fresh layers, new weights)."""
        layers = {}
        for spec in config["layers"]:
            layer = deserialize(spec)
            layers[layer.name] = layer
        made: dict[tuple[str, int], list[SymbolicTensor]] = {}
        calls: dict[str, int] = {}  # how many times each layer has been called so far
        for layer in layers.values():
            if isinstance(layer, InputLayer):
                made[(layer.name, 0)] = [layer.output]

        def tensor(ref: Any) -> Any:
            if not (isinstance(ref, list) and len(ref) == 3 and isinstance(ref[0], str)):
                raise ValueError(f"Expected a tensor reference [layer, call, output], got {ref!r:.80}")
            name, call, index = ref
            if (name, call) not in made:
                raise ValueError(f"The graph reads call {call} of layer {name!r} before it is made")
            return made[(name, call)][index]

        def resolve(value: Any) -> Any:
            if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) and isinstance(value[1], int):
                return tensor(value)
            if isinstance(value, list):
                return [resolve(v) for v in value]
            if isinstance(value, dict):
                return {k: resolve(v) for k, v in value.items()}
            return value

        for spec in config["nodes"]:
            called = layers.get(spec["layer"])
            if called is None:
                raise ValueError(f"The graph calls a layer {spec['layer']!r} it does not describe")
            layer = called
            out = layer(resolve(spec["args"]), **{k: resolve(v) for k, v in spec.get("kwargs", {}).items()})
            number = calls.get(layer.name, 0)
            calls[layer.name] = number + 1
            made[(layer.name, number)] = out if isinstance(out, list) else [out]
        return cls(resolve(config["inputs"]), resolve(config["outputs"]), name=config.get("name"),
                   trainable=config.get("trainable", True))

    def save(self, filepath: str | os.PathLike[str], overwrite: bool = True, extras: dict[str, Any] | None = None) -> None:
        """Writes one file with the architecture, weights and training state (see `lstmkit.saving.archive`);
        `lstmkit.models.load_model(filepath)` reads it back. `extras`: JSON values kept beside the
        model (a tokenizer's `to_json()`, say), read back with `lstmkit.models.load_extras(filepath)`."""
        header, tensors = model_state(self, extras)
        archive.write_file(filepath, lambda p: archive.write_archive(p, header, tensors), overwrite)

    def export(self, filepath: str | os.PathLike[str], format: str = "tf_saved_model", verbose: Any = None,
               input_signature: Any = None, **kwargs: Any) -> str:
        """Writes the model for serving, as Keras 3's `export` does; lstmkit writes `format="onnx"`
        (see `lstmkit.saving.onnx`: dynamic batch and time axes, each recurrent layer as ONNX's
        LSTM, GRU or RNN operator; the inputs named as `input_names`) and returns the path.
        `input_signature`: an example input batch (an array or tensor, a list of them for several
        inputs) where the model's input shapes do not give one."""
        if format != "onnx":
            raise ValueError(f"format={format!r}: lstmkit exports format='onnx' (TensorFlow's SavedModel and "
                             "OpenVINO need their own runtimes), e.g. model.export('model.onnx', format='onnx')")
        if kwargs:
            raise TypeError(f"export() takes no argument(s) {sorted(kwargs)} with format='onnx'")
        from ..saving.onnx import export_onnx

        example: Any = None
        if input_signature is not None:
            several = isinstance(input_signature, (list, tuple)) and len(self.input_names) > 1
            example = ([to_tensor(v, f"input_signature[{i}]", float_dtype=self.compute_dtype)
                        for i, v in enumerate(input_signature)] if several
                       else to_tensor(input_signature, "input_signature", float_dtype=self.compute_dtype))
        path = export_onnx(self, filepath, example)
        if verbose:
            print(f"Saved the model to {path} (ONNX)")
        return path

    def to_json(self, **kwargs: Any) -> str:
        """The architecture as JSON text (no weights); `lstmkit.models.model_from_json` rebuilds it.
        `kwargs` go to `json.dumps` (Keras 2 programs pass `indent=`)."""
        return json.dumps({"format": "lstmkit", "class_name": type(self).__name__,
                           "config": serialization.to_json(self.get_config(), "model config")}, **kwargs)

    def save_weights(self, filepath: str | os.PathLike[str], overwrite: bool = True) -> None:
        """Writes the weights alone, for `load_weights` on a model of the same architecture."""
        weights.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath: str | os.PathLike[str]) -> None:
        """Loads weights written by `save_weights` (or `save`) into this built model; also Keras's
        weight files (`.weights.h5`, Keras 2's `.h5`), layer by layer by name."""
        if keras_files.file_kind(os.fspath(filepath)) == "hdf5":
            keras_files.load_weights(self, os.fspath(filepath))
            return
        weights.load_weights(self, filepath)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"

    def __repr__(self) -> str:
        return nn.Module.__repr__(self)


def _join(parts: list[Any]) -> Any:
    if isinstance(parts[0], (list, tuple)):
        return [_join([p[i] for p in parts]) for i in range(len(parts[0]))]
    joined = torch.cat(parts).cpu()
    return (joined.float() if joined.dtype == torch.bfloat16 else joined).numpy()  # numpy has no bfloat16

