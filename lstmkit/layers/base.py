"""`Layer`: a `torch.nn.Module` with Keras's life cycle (build on first call, weights as arrays)."""

from __future__ import annotations

import inspect
import re
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from .. import activations, config, constraints, initializers, mixed_precision, regularizers
from .._checks import positive_int, shape_tuple
from . import registry, symbolic

Shape = tuple[Any, ...]  # a shape with the batch first; None marks an unknown size


def snake_case(name: str) -> str:
    """Keras's default layer names: `SimpleRNN` -> `simple_rnn`, `LSTM` -> `lstm`."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


_NOT_GIVEN: Any = object()  # `forward`'s mask when the caller passed none (an eager call)


def creation_device() -> torch.device:
    """Where a layer created now puts its weights: the device of an enclosing `with
    torch.device(...)` (the loaders build on "meta"), else `config.current_device()`."""
    context = torch.get_default_device()
    return context if context.type != "cpu" else config.current_device()


def copy_checked(pairs: Sequence[tuple[torch.Tensor, np.ndarray]]) -> None:
    """Copies checked (weight, array) pairs (from `Layer.checked_weights`) into the weights."""
    with torch.no_grad():
        for param, value in pairs:
            param.copy_(torch.as_tensor(value, dtype=param.dtype))


class Layer(nn.Module):
    """Base of every lstmkit layer.

    A layer creates its weights in `build(input_shape)`, either when a model learns its input
    shape or on the first call. Subclasses implement `build`, `call`, `compute_output_shape`
    and, when they change the mask, `compute_mask`.

    Calling a layer works both ways: Keras's `layer(x, mask=..., training=...)` and PyTorch's
    `layer(x)`, where `training` defaults to the module's `self.training` flag.

    Args (keyword-only, as in Keras):
        name: The layer's name; by default the class name in snake case.
        input_shape: For a first layer: the shape of one sample, without the batch.
        batch_input_shape: Keras 2's form, with the batch size first.
        batch_size: Fixed batch size to go with `input_shape` (needed by stateful layers).
        input_dim: Keras 2's shorthand for `input_shape=(input_dim,)`; for a recurrent layer
            `(None, input_dim)`.
        trainable: False freezes the weights (`requires_grad=False`).
        weights: Keras 2's initial weights, `get_weights()`'s list, set when the layer is built
            (`Embedding(n, d, weights=[matrix], trainable=False)` for pretrained vectors).
        dtype: The layer's dtype policy (`lstmkit.mixed_precision`): "float32", "mixed_float16",
            "mixed_bfloat16" or a DTypePolicy; by default the global policy when the layer is
            created. `dtype_policy=` is taken too.
    """

    _placement: torch.Tensor

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        registry.register(cls)

    def __init__(
        self,
        *,
        name: str | None = None,
        input_shape: Sequence[int | None] | None = None,
        batch_input_shape: Sequence[int | None] | None = None,
        batch_size: int | None = None,
        input_dim: int | None = None,
        trainable: bool = True,
        dtype: Any = None,
        dtype_policy: Any = None,
        weights: Sequence[Any] | None = None,
    ) -> None:
        super().__init__()
        self._initial_weights = None if weights is None else list(weights)  # Keras 2's weights=[...], set when built
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"Expected a non-empty string for name, got name={name!r}")
        self.name: str = name or snake_case(type(self).__name__)
        self._given_name = name is not None
        self.activity_regularizer: Any = None
        self._trainable = bool(trainable)
        # Keras's dtype policy: float32 variables, computation in float32 or (mixed_*) lower
        self._dtype_policy = mixed_precision.policy_of(dtype if dtype_policy is None else dtype_policy,
                                                       "dtype" if dtype_policy is None else "dtype_policy")
        self._dtype_given = dtype is not None or dtype_policy is not None  # saved with the layer then
        self.declared_input_shape = self._declared_shape(input_shape, batch_input_shape, batch_size, input_dim)
        # Weights may be created after `.double()` or `.to(device)`; this empty buffer goes through
        # those calls like any tensor, so a late build knows the dtype and device asked for. It
        # starts on the device the program's layers go to (config.current_device, as Keras puts
        # them on the first GPU), or on the device of a `with torch.device(...)` around it.
        self.register_buffer("_placement", torch.empty(0, device=creation_device()), persistent=False)
        self.built = False
        self.input_shape_built: Shape | None = None
        self.symbolic_nodes: list[symbolic.Node] = []  # its calls on symbolic tensors, each a node of a graph

    def _declared_shape(
        self,
        input_shape: Sequence[int | None] | None,
        batch_input_shape: Sequence[int | None] | None,
        batch_size: int | None,
        input_dim: int | None,
    ) -> Shape | None:
        given = [n for n, v in (("input_shape", input_shape), ("batch_input_shape", batch_input_shape),
                                ("input_dim", input_dim)) if v is not None]
        if len(given) > 1:
            raise ValueError(f"Pass only one of input_shape, batch_input_shape, input_dim; got {', '.join(given)}")
        if batch_size is not None:
            batch_size = positive_int("batch_size", batch_size)
        if batch_input_shape is not None:
            shape = shape_tuple("batch_input_shape", batch_input_shape)
            if len(shape) < 2:
                raise ValueError(
                    f"batch_input_shape needs the batch size and at least one more dimension, "
                    f"got batch_input_shape={tuple(batch_input_shape)!r}"
                )
            return shape
        if input_shape is not None:
            return (batch_size, *shape_tuple("input_shape", input_shape))
        if input_dim is not None:
            return (batch_size, *self.shape_from_input_dim(positive_int("input_dim", input_dim)))
        return None

    def shape_from_input_dim(self, input_dim: int) -> Shape:
        """The sample shape that Keras 2's `input_dim=` stands for on this layer."""
        return (input_dim,)

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        self.requires_grad_(self._trainable)

    # ---- the Keras life cycle -------------------------------------------------------------

    def build(self, input_shape: Shape) -> None:
        """Creates the weights for inputs of `input_shape` (batch first). Layers without weights keep this."""

    # ---- a user's own layer, written the Keras way ----------------------------------------------

    def add_weight(self, *args: Any, shape: Sequence[int] | None = None, initializer: Any = None, dtype: Any = None,
                   trainable: bool = True, regularizer: Any = None, constraint: Any = None, name: str | None = None,
                   **ignored: Any) -> nn.Parameter:
        """Creates a weight in `build`, as a Keras layer of one's own does: `self.W =
        self.add_weight(name="W", shape=(d, 1), initializer="glorot_uniform")`. Keras 3's
        positional order (shape, initializer, dtype, trainable) and Keras 2's (name, shape, dtype,
        initializer, regularizer, trainable, constraint) are both taken. Weights come in the order
        they were added, which is Keras's order for `get_weights` / `set_weights`."""
        if args and isinstance(args[0], str):  # Keras 2: add_weight(name, shape, dtype, initializer, regularizer, ...)
            keys = ("name", "shape", "dtype", "initializer", "regularizer", "trainable", "constraint")
        else:
            keys = ("shape", "initializer", "dtype", "trainable", "autocast", "regularizer", "constraint")
        given = {"shape": shape, "initializer": initializer, "dtype": dtype, "trainable": trainable,
                 "regularizer": regularizer, "constraint": constraint, "name": name}
        given.update(zip(keys, args))
        if given["shape"] is None:
            raise ValueError(f"Layer {self.name!r}: add_weight needs shape=, got shape=None")
        init = initializers.get(given["initializer"] if given["initializer"] is not None else "glorot_uniform")
        dtype = self._placement.dtype if given["dtype"] in (None, "float32") else getattr(torch, str(given["dtype"]))
        param = nn.Parameter(initializers.make(init, tuple(int(d) for d in given["shape"]), dtype),
                             requires_grad=bool(given["trainable"]))
        key = re.sub(r"\W", "_", str(given["name"] or f"weight_{len(self._parameters)}"))
        while key in self._parameters or key in self.__dict__:
            key += "_"
        self.register_parameter(key, param)
        penalties = self.__dict__.setdefault("_added_penalties", [])
        penalties.append((param, regularizers.get(given["regularizer"]), constraints.get(given["constraint"])))
        return param

    def __setattr__(self, name: str, value: Any) -> None:
        # `self.W = self.add_weight(name="kernel", ...)`: the weight is registered once, under its
        # name; the attribute is an alias, not a second registration of the same tensor
        params = self.__dict__.get("_parameters")  # None before Module.__init__ (Keras cells set units first)
        if isinstance(value, nn.Parameter) and params is not None and name not in params \
                and any(p is value for p in params.values()):
            object.__setattr__(self, name, value)
            return
        super().__setattr__(name, value)

    def _call_arguments(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments this class's `call` takes (a user's `call(self, x)` takes none of
        `mask` and `training`)."""
        accepted = _CALL_ARGUMENTS.get(type(self))
        if accepted is None:
            params = inspect.signature(type(self).call).parameters.values()
            accepted = frozenset({"*"}) if any(p.kind == p.VAR_KEYWORD for p in params) else frozenset(p.name for p in params)
            _CALL_ARGUMENTS[type(self)] = accepted
        if "*" in accepted:
            return kwargs
        return {k: v for k, v in kwargs.items() if k in accepted}

    # a layer that reads text (TextVectorization, StringLookup): a model whose first layer it is
    # passes string inputs to it as a StringTensor instead of converting them to numbers
    accepts_text = False

    def is_users_layer(self) -> bool:
        """A layer class written outside lstmkit (a Keras program's own)."""
        return not type(self).__module__.startswith("lstmkit.")

    def ensure_built(self, input_shape: Any) -> None:
        """Builds the layer for inputs of `input_shape` (a shape, or a list of shapes for a layer
        taking several inputs) unless it is built."""
        if not self.built:
            input_shape = [tuple(s) for s in input_shape] if isinstance(input_shape, list) else tuple(input_shape)
            self.check_input_shape(input_shape)
            self.build(input_shape)
            self.to(device=self._placement.device, dtype=self._placement.dtype)
            self.input_shape_built = input_shape
            self.built = True
            self.requires_grad_(self.trainable)
            if self._initial_weights is not None:
                self.set_weights(self._initial_weights)
                self._initial_weights = None

    def check_input_shape(self, input_shape: Shape) -> None:
        """Raises ValueError when inputs of `input_shape` cannot go into this layer."""

    def call(self, x: Any, *, mask: torch.Tensor | None = None, training: bool = False, **kwargs: Any) -> Any:
        """The layer's computation on a batch: inputs (and `mask`, `training` where the layer reads them) to outputs."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape: Shape) -> Any:
        """The output's shape for inputs of `input_shape`. lstmkit's layers say it; for a Keras
        program's own layer that does not, it is found as Keras 3 finds it, by running the layer
        (on zeros)."""
        if self.is_users_layer():
            return self.probe_shape(lambda x: self(x, training=False), input_shape, "its call",
                                    "define compute_output_shape(self, input_shape)")
        return tuple(input_shape) if not isinstance(input_shape, list) else input_shape

    def probe_shape(self, run: Callable[[Any], Any], input_shape: Any, what: str, remedy: str) -> Any:
        """`probe_output_shape` of `run` on zeros of the dtypes this layer's symbolic input has."""
        return probe_output_shape(run, input_shape, self.__dict__.get("_symbolic_input_dtype", "float32"),
                                  f"{type(self).__name__} layer {self.name!r}", what, remedy)

    def logits_activation(self) -> Any:
        """The activation this layer applies last, when `call(..., logits=True)` can return its
        input instead; None for layers that cannot. A training loop uses it to compute
        cross-entropies from logits, which is stable where probabilities underflow."""
        return None

    def compute_mask(self, x: Any, mask: torch.Tensor | None) -> Any:
        """The mask for this layer's output; by default the input's mask passes through."""
        return mask

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Runs the layer (through `forward`), or, on symbolic tensors from `Input`, adds a call
        to a graph and returns its symbolic outputs (see `lstmkit.layers.symbolic`)."""
        if symbolic.is_symbolic(args, kwargs):
            return symbolic.call(self, args, kwargs)
        return super().__call__(*args, **kwargs)

    @property
    def output(self) -> Any:
        """The symbolic output of this layer's first call on symbolic tensors (Keras's `layer.output`)."""
        return self._first_node("output").outputs[0] if len(self._first_node("output").outputs) == 1 \
            else list(self._first_node("output").outputs)

    @property
    def output_shape(self) -> Any:
        """Keras 2's `layer.output_shape`: the shape of its output (batch first, None unknown),
        once the layer is built; a list for a layer of several outputs."""
        if self.symbolic_nodes:
            out = self.output
            return [t.shape for t in out] if isinstance(out, list) else out.shape
        if not self.built or self.input_shape_built is None:
            raise AttributeError(f"Layer {self.name!r} has no output shape yet: it is not built")
        return self.compute_output_shape(self.input_shape_built)

    @property
    def input_shape(self) -> Any:
        """Keras 2's `layer.input_shape`: the shape of the input it was built for."""
        if self.input_shape_built is None and self.declared_input_shape is None:
            raise AttributeError(f"Layer {self.name!r} has no input shape yet: it is not built")
        return self.input_shape_built if self.input_shape_built is not None else self.declared_input_shape

    @property
    def input(self) -> Any:
        """The symbolic input of this layer's first call on symbolic tensors (Keras's `layer.input`)."""
        node = self._first_node("input")
        return node.outputs[0] if node.is_input else node.args

    def _first_node(self, what: str) -> symbolic.Node:
        if not self.symbolic_nodes:
            raise AttributeError(f"Layer {self.name!r} has no {what} yet: it has not been called on a symbolic tensor "
                                 "(from Input) or been part of a model with a known input shape")
        return self.symbolic_nodes[0]

    def check_symbolic_call(self, input_shape: Any, argument_shapes: dict[str, Any]) -> None:
        """Raises ValueError when a call on symbolic inputs of `input_shape` with these other
        arguments (their shapes where they are tensors) cannot run; layers taking more than an
        input (a recurrent layer's `initial_state`) check those here."""
        unknown = sorted(set(argument_shapes) - {"training", "mask"})
        if unknown:
            raise TypeError(f"{type(self).__name__} layer {self.name!r} takes no argument(s) {unknown} in a call")

    def output_dtype(self, input_dtype: Any) -> str:
        """The dtype of this layer's outputs for inputs of `input_dtype` (a list for several)."""
        self.__dict__["_symbolic_input_dtype"] = input_dtype  # what a shape probe feeds a user's layer
        return "float32"

    def forward(self, x: Any, mask: Any = _NOT_GIVEN, training: bool | None = None, **kwargs: Any) -> Any:
        """Runs `call`. A model running its graph passes each layer's mask (None too); a layer
        called without `mask=` (eagerly, as inside a subclassed model's `call`) follows Keras's
        eager rule instead: it takes the mask its input carries, and its output carries its own."""
        x = self.as_input(x)
        shape: Any = [tuple(t.shape) for t in x] if isinstance(x, list) else tuple(x.shape)
        if not self.built:
            self.ensure_built(shape)
        else:
            self.check_input_shape(shape)
        if training is None:
            training = self.training
        eager = mask is _NOT_GIVEN
        if eager:
            mask = _carried_mask(x)
        arguments = {"mask": mask, "training": bool(training), **kwargs}
        mixed = self._dtype_policy.is_mixed and not mixed_precision.suspended()
        if mixed or _holds_low_precision(x):
            y = self._call_in_policy(x, arguments, mixed)
        else:
            y = self.call(x, **self._call_arguments(arguments))
        if eager and isinstance(y, torch.Tensor):
            out_mask = self.compute_mask(x, mask)
            if isinstance(out_mask, torch.Tensor):
                y._keras_mask = out_mask  # type: ignore[attr-defined]
        return y

    def _call_in_policy(self, x: Any, arguments: dict[str, Any], mixed: bool) -> Any:
        """`call` as the dtype policy says (see `lstmkit.mixed_precision`): under a mixed policy,
        floating inputs cast to the compute dtype, products under torch's autocast, floating
        outputs in the compute dtype, and a final softmax in float32; under float32 (low-precision
        inputs from a mixed layer before it), inputs cast to the weights' dtype, autocast off."""
        policy = self._dtype_policy
        device = _device_of(x) or self._placement.device
        if not mixed:  # a float32 layer (or a mixed one under mixed_precision.computing_in_float32)
            with torch.autocast(device.type, enabled=False):
                return self.call(_cast_floats(x, self._placement.dtype), **self._call_arguments(arguments))
        low = policy.torch_compute_dtype
        softmax_last = self.logits_activation() is activations.get("softmax")
        if softmax_last:
            wanted_logits = bool(arguments.get("logits", False))
            arguments = {**arguments, "logits": True}
        with torch.autocast(device.type, dtype=low):
            y = self.call(_cast_floats(x, low), **self._call_arguments(arguments))
        if softmax_last:  # the probabilities (or the logits a loss takes) in float32
            logits = y.to(self._placement.dtype)
            return logits if wanted_logits else self.logits_activation()(logits)
        return _cast_floats(y, low)

    @property
    def dtype_policy(self) -> mixed_precision.DTypePolicy:
        """The layer's dtype policy (Keras's `layer.dtype_policy`); settable."""
        return self._dtype_policy

    @dtype_policy.setter
    def dtype_policy(self, value: Any) -> None:
        self._dtype_policy = mixed_precision.policy_of(value, "dtype_policy")
        self._dtype_given = True

    @property
    def variable_dtype(self) -> str:
        """The dtype of the layer's weights, as Keras names it ("float32")."""
        return str(self._placement.dtype).replace("torch.", "")

    def as_input(self, x: Any) -> torch.Tensor:
        """Turns numpy arrays and nested lists into tensors (floats as float32); a tensor on
        another device than the layer's weights is copied to theirs, as Keras does (a program's
        CPU tensor into a model on the GPU); tensors pass as they are otherwise."""
        if isinstance(x, torch.Tensor):
            device = self._placement.device
            return x if x.device == device or device.type == "meta" else x.to(device)
        return to_tensor(x, "inputs").to(self._placement.device)

    # ---- weights as Keras exchanges them ----------------------------------------------------

    @property
    def weights(self) -> list[nn.Parameter]:
        """Weights in Keras's order (creation order; a wrapper's inner layers in turn)."""
        return list(self.parameters())

    @property
    def trainable_weights(self) -> list[nn.Parameter]:
        """The weights training changes (those of frozen layers left out), in Keras's order."""
        return [w for w in self.weights if w.requires_grad]

    @property
    def non_trainable_weights(self) -> list[nn.Parameter]:
        return [w for w in self.weights if not w.requires_grad]

    @property
    def trainable_variables(self) -> list[nn.Parameter]:
        """Keras 3's and tf.keras's name for `trainable_weights` (what a GradientTape loop differentiates)."""
        return self.trainable_weights

    @property
    def variables(self) -> list[nn.Parameter]:
        return self.weights

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(
                f"Layer {self.name!r} is not built yet, so it has no weights to count: give the "
                "model an input shape or call it on data first"
            )
        return sum(p.numel() for p in self.weights)

    def get_weights(self) -> list[np.ndarray]:
        """The weights as numpy arrays, in Keras's order and shapes."""
        return [p.detach().cpu().numpy().copy() for p in self.weights]

    def keras_layout(self, weights: list[Any]) -> list[Any]:
        """Keras's arrays as this layer's weights take them (a layer whose Keras layout differs,
        such as a CuDNNGRU's flat bias, converts here); no weight changes."""
        return weights

    def checked_weights(self, weights: Sequence[Any]) -> list[tuple[torch.Tensor, np.ndarray]]:
        """(weight, array) pairs for `set_weights`, every count, shape and dtype checked; nothing
        is changed yet (models check all their layers before setting any: all or nothing).

        Raises:
            ValueError: When the layer is not built, or the count or a shape differs.
            TypeError: For arrays that are not numeric.
        """
        if not self.built:
            raise ValueError(
                f"Layer {self.name!r} is not built yet, so its weights cannot be set: give the "
                "model an input shape (input_shape=... or Input(shape=...)) or call it on data first"
            )
        params = self.weights
        weights = self.keras_layout(list(weights))
        if len(weights) != len(params):
            raise ValueError(
                f"Layer {self.name!r} expects {len(params)} weight arrays with shapes "
                f"{[tuple(p.shape) for p in params]}, got {len(weights)} arrays with shapes "
                f"{[tuple(np.shape(w)) for w in weights]}"
            )
        pairs: list[tuple[torch.Tensor, np.ndarray]] = []
        for index, (param, value) in enumerate(zip(params, weights)):
            value = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
            if tuple(value.shape) != tuple(param.shape):
                raise ValueError(
                    f"Layer {self.name!r}: weight {index} ({self.weight_name(param)}) expects shape "
                    f"{tuple(param.shape)}, got {tuple(value.shape)}"
                )
            if value.dtype.kind not in "fiub":
                raise TypeError(
                    f"Layer {self.name!r}: weight {index} must be numeric, got dtype {value.dtype}"
                )
            pairs.append((param, value))
        return pairs

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Loads arrays in Keras's order and shapes (for example `keras_layer.get_weights()`).

        Raises:
            ValueError: When the layer is not built, or the count or a shape differs.
        """
        copy_checked(self.checked_weights(weights))

    def weight_name(self, param: nn.Parameter) -> str:
        for name, p in self.named_parameters():
            if p is param:
                return name
        return "?"

    # ---- penalties and constraints ----------------------------------------------------------

    def weight_regularizers(self) -> list[tuple[torch.Tensor, Any]]:
        """(weight, regularizer) pairs of this layer; layers with regularizable weights override it
        (a user's layer: those given to `add_weight`)."""
        return [(w, r) for w, r, _ in self.__dict__.get("_added_penalties", []) if r is not None]

    def weight_constraints(self) -> list[tuple[torch.Tensor, Any]]:
        """(weight, constraint) pairs of this layer; layers with constrainable weights override it."""
        return [(w, c) for w, _, c in self.__dict__.get("_added_penalties", []) if c is not None]

    def record_activity(self, output: torch.Tensor) -> None:
        """Keeps the activity penalty of this call's output (Keras divides it by the batch size)."""
        assert self.activity_regularizer is not None
        self._activity_loss = self.activity_regularizer(output) / output.shape[0]

    @property
    def losses(self) -> list[torch.Tensor]:
        """Penalties to add to the training loss: weight regularizers, and the last call's activity penalty."""
        found = [reg(w) for w, reg in self.weight_regularizers()]
        activity = self.__dict__.get("_activity_loss")
        if activity is not None:
            found.append(activity)
        for child in self.children():
            if isinstance(child, Layer):
                found.extend(child.losses)
        return found

    def apply_constraints(self) -> None:
        """Projects each constrained weight in place; a training loop calls this after each step."""
        constrained = self.weight_constraints()
        if constrained:
            with torch.no_grad():
                for w, constraint in constrained:
                    w.copy_(constraint(w))
        for child in self.children():
            if isinstance(child, Layer):
                child.apply_constraints()

    # ---- configuration -----------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this layer (without its weights)."""
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable}
        if self._dtype_policy.is_mixed or self._dtype_given:  # a float32 layer among mixed ones stays float32
            config["dtype"] = self._dtype_policy.name
        if self.declared_input_shape is not None:
            config["batch_input_shape"] = self.declared_input_shape
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Layer":
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})" if not self._modules else super().__repr__()


_CALL_ARGUMENTS: dict[type, frozenset[str]] = {}


def _holds_low_precision(x: Any) -> bool:
    """Whether x (a tensor or a list of them) holds float16 or bfloat16 values: what a layer of
    a mixed policy hands on, which a float32 layer casts up."""
    if isinstance(x, torch.Tensor):
        return x.dtype in mixed_precision.LOW_PRECISION
    low = mixed_precision.LOW_PRECISION
    return isinstance(x, (list, tuple)) and any(isinstance(t, torch.Tensor) and t.dtype in low for t in x)


def _cast_floats(x: Any, dtype: torch.dtype) -> Any:
    """x with its floating tensors (also in lists, tuples, dicts) cast to `dtype`; the rest as it is."""

    def cast(t: torch.Tensor) -> torch.Tensor:
        if not t.is_floating_point() or t.dtype == dtype:
            return t
        made = t.to(dtype)
        mask = getattr(t, "_keras_mask", None)
        if mask is not None:
            made._keras_mask = mask  # type: ignore[attr-defined]
        return made

    return symbolic.map_structure(cast, x, torch.Tensor)


def _device_of(x: Any) -> torch.device | None:
    if isinstance(x, torch.Tensor):
        return x.device
    if isinstance(x, (list, tuple)):
        return next((t.device for t in x if isinstance(t, torch.Tensor)), None)
    return None


def _carried_mask(x: Any) -> Any:
    """The mask a tensor (or each tensor of a list) carries from the layer that made it, if any."""
    if isinstance(x, torch.Tensor):
        return getattr(x, "_keras_mask", None)
    if isinstance(x, list):
        masks = [getattr(t, "_keras_mask", None) for t in x]
        return None if all(m is None for m in masks) else masks
    return None


def _zeros(shape: Shape, size: int, dtype: str) -> torch.Tensor:
    kind = torch.int64 if dtype.startswith(("int", "uint")) else torch.bool if dtype == "bool" else torch.float32
    return torch.zeros([size if d is None else d for d in shape], dtype=kind)


def probe_output_shape(run: Callable[[Any], Any], input_shape: Any, dtypes: Any, owner: str, what: str,
                       remedy: str) -> Any:
    """The output shape of `run` (a Lambda's function, a user's layer's call) found by running it
    on zeros twice, unknown sizes taken as 2 and then 3: sizes that differ are unknown (None).
    Errors `run` raises are reported with the input shape, `owner` and the `remedy`."""
    batch = input_shape[0][0] if isinstance(input_shape, list) else input_shape[0]

    def make(size: int) -> Any:
        if isinstance(input_shape, list):
            kinds = dtypes if isinstance(dtypes, list) else ["float32"] * len(input_shape)
            return [_zeros(s, size, d) for s, d in zip(input_shape, kinds)]
        return _zeros(input_shape, size, dtypes if isinstance(dtypes, str) else "float32")

    try:
        with torch.no_grad():
            first, second = run(make(2)), run(make(3))
    except Exception as err:  # the user's code: any error it raises is reported with the shapes
        raise ValueError(f"{owner} failed on inputs of shape {input_shape} ({type(err).__name__}: {err}); {remedy} "
                         "if it cannot run on zeros") from err

    def shape(a: Any, b: Any) -> Any:
        if isinstance(a, (list, tuple)):
            return [shape(u, v) for u, v in zip(a, b)]
        if not isinstance(a, torch.Tensor):
            raise ValueError(f"{owner} must return tensors, {what} returned {type(a).__name__}")
        sizes = [None if u != v else u for u, v in zip(a.shape, b.shape)]
        return (batch, *sizes[1:]) if sizes else (batch,)

    return shape(first, second)


def to_tensor(x: Any, argument: str, *, float_dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Converts user data to a tensor: floats to `float_dtype`, integers and booleans to int64.

    Raises:
        TypeError: For strings, objects and ragged lists, naming `argument`.
    """
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise TypeError(f"Expected {argument} to be a tensor of real numbers, got dtype {x.dtype}")
        return x.to(float_dtype) if x.is_floating_point() else x
    try:
        array = np.asarray(x)
    except ValueError as err:  # numpy refuses ragged nested lists
        raise TypeError(
            f"Expected {argument} to be an array or tensor of numbers; it looks ragged (nested lists of "
            f"different lengths?): pad them to one length first ({err})"
        ) from None
    if array.dtype.kind in "fiub":
        if not array.dtype.isnative:  # big-endian data on a little-endian machine, or the reverse
            array = array.astype(array.dtype.newbyteorder("="))
        if any(stride < 0 for stride in array.strides):  # x[::-1]: torch holds no negative strides
            array = array.copy()
    if array.dtype.kind == "f":
        return torch.as_tensor(array, dtype=float_dtype)
    if array.dtype.kind == "u" and array.size and array.dtype.itemsize == 8 and array.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{argument} holds the value {int(array.max())}, beyond the int64 range that lstmkit's "
                         f"integer tensors hold (largest {np.iinfo(np.int64).max})")
    if array.dtype.kind in "iub":
        return torch.as_tensor(array.astype(np.int64, copy=False))
    raise TypeError(
        f"Expected {argument} to be an array or tensor of numbers, got an array of dtype {array.dtype}"
        + (" (ragged nested lists? pad them to one length first)" if array.dtype == object else "")
    )


def check_finite(x: torch.Tensor, argument: str, inputs: bool = True) -> None:
    """Raises ValueError, naming `argument`, the count and the first place, when a float tensor
    holds NaN or infinite values (`inputs`: the model's inputs, which the message then advises on)."""
    if not x.is_floating_point():
        return
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        first = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"{argument} holds {int(bad.sum())} NaN or infinite values (the first, {x[first].item()}, at index "
            f"{first}): remove or replace them"
            + (" (a Masking layer can skip steps marked with a finite value), or set model.check_finite = False "
               "to pass them on" if inputs else "")
        )
