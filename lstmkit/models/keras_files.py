"""Models and weights saved by Keras itself, read into lstmkit's classes.

Three kinds of file:
- Keras 3's `.keras` archive: a zip of `config.json` (the architecture) and `model.weights.h5`
  (the weights, a group per layer: `layers/<name>/vars/0, 1, ...`, a recurrent layer's under
  `cell/`, a Bidirectional's under `forward_layer/` and `backward_layer/`);
- the legacy HDF5 file of Keras 2 and 3 (`model.save("m.h5")`): the architecture in the root's
  `model_config` attribute, the weights under `model_weights/<layer>`, in the order each layer's
  `weight_names` attribute gives;
- weights alone (`save_weights`): Keras 3's `.weights.h5` (the first layout) or Keras 2's `.h5`
  (the second, at the root), read by `model.load_weights(path)` into a model built by the program.

The architecture is rebuilt from lstmkit's own layer classes by their Keras names, with each
Keras argument lstmkit has; arguments that do not change what a loaded model computes (dtype
policies, seeds, initializers, cuDNN and unroll switches) are dropped, and any other argument
lstmkit lacks is refused by name rather than ignored. Nothing in the file is ever run: a
`Lambda`'s stored bytecode, a custom layer class or a custom activation is refused with its name
unless `custom_objects` supplies it. The HDF5 part is read by `lstmkit.saving.hdf5` (in a worker
process, within time and memory bounds, nothing outside the file followed, every declared array
checked against the bytes it stores), so what it holds is bounded by the file's size; then, as for
lstmkit's own files, the architecture is built on the meta device and the arrays' shapes are
checked against it before the model is allocated.
"""

from __future__ import annotations

import contextlib
import heapq
import inspect
import json
import re
import warnings
import zipfile
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch

from .. import initializers
from ..constraints import MaxNorm, MinMaxNorm, NonNeg, UnitNorm
from .._zipread import ZIP_ERRORS, read_member, unique_names
from ..layers.base import Layer, copy_checked, snake_case
from ..layers.bidirectional import Bidirectional
from ..layers.registry import deserialize, lookup
from ..layers.time_distributed import TimeDistributed
from ..regularizers import L1L2
from ..saving import hdf5
from ..training import losses as losses_module
from ..training import metrics as metrics_module
from ..training import optimizers as optimizers_module

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_CONFIG_BYTES = 16 << 20
# Keras arguments that do not change what a loaded model computes
_IGNORED = {"dtype", "seed", "unroll", "use_cudnn", "implementation", "time_major", "sparse", "ragged", "optional",
            "autocast", "input_dtype", "lora_rank", "lora_alpha", "quantization_config", "renorm_momentum",
            "renorm_clipping", "build_config", "shared_object_id", "registered_name", "module"}
_RECURRENT = {"LSTM", "GRU", "SimpleRNN", "CuDNNLSTM", "CuDNNGRU"}


class KerasFileError(ValueError):
    """A Keras file lstmkit cannot load, and why."""


def _refuse(path: str, problem: str) -> KerasFileError:
    return KerasFileError(f"{path!r}: {problem}")


def file_kind(path: str) -> str | None:
    """"hdf5" for an HDF5 file, "keras" for a Keras 3 `.keras` zip, None for anything else."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return None
    if head == HDF5_SIGNATURE:
        return "hdf5"
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
        except ZIP_ERRORS:
            return None  # not a zip lstmkit can open: the model file reader says so, by name
        if "config.json" in names and "model.weights.h5" in names:
            return "keras"
    return None


# ---- the architecture ----------------------------------------------------------------------------

def _accepted(cls: type) -> set[str] | None:
    """Keyword arguments `cls` takes, following **kwargs up to the base classes; None: any."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        if [p.name for p in params][:2] == ["self", "given"]:
            continue  # a settings layer's base, taking its subclass's locals() (layers/recurrent.py)
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return names - {"self"}
        if klass is Layer:
            return names - {"self"}
    return None


def _regularizer(value: Any, where: str) -> Any:
    if value is None or isinstance(value, str):
        return value
    name = value.get("class_name") if isinstance(value, dict) else None
    config = value.get("config", {}) if isinstance(value, dict) else {}
    if name in ("L1", "L2", "L1L2", "l1", "l2", "l1_l2"):
        return L1L2(l1=float(config.get("l1", 0.0)), l2=float(config.get("l2", 0.0)))
    raise KerasFileError(f"{where} uses the regularizer {name or value!r}, which lstmkit does not have")


def _constraint(value: Any, where: str) -> Any:
    if value is None or isinstance(value, str):
        return value
    name = value.get("class_name") if isinstance(value, dict) else None
    config = dict(value.get("config", {})) if isinstance(value, dict) else {}
    made: dict[str, Callable[..., Any]] = {"MaxNorm": MaxNorm, "MinMaxNorm": MinMaxNorm, "NonNeg": NonNeg,
                                           "UnitNorm": UnitNorm}
    if name in made:
        return made[name](**config)
    raise KerasFileError(f"{where} uses the constraint {name or value!r}, which lstmkit does not have")


def _named(value: Any, kind: str, where: str, custom_objects: Mapping[str, Any]) -> Any:
    """An activation: Keras's name for a built-in one; a custom one only from custom_objects."""
    if value is None or isinstance(value, str):
        return custom_objects.get(value, value) if isinstance(value, str) else value
    name = value.get("config") if isinstance(value, dict) and isinstance(value.get("config"), str) else \
        value.get("class_name") if isinstance(value, dict) else None
    if isinstance(name, str) and name in custom_objects:
        return custom_objects[name]
    raise KerasFileError(f"{where} uses the {kind} {name or value!r:.80}, which is not a built-in one: pass it in "
                         f"custom_objects={{{name or 'name'!r}: ...}}")


def _lambda_function(config: dict[str, Any], layer_name: str, custom_objects: Mapping[str, Any]) -> Any:
    """A Lambda's function: from custom_objects, by the function's name or the layer's; never the
    bytecode the file holds."""
    function = config.get("function")
    name = None
    if isinstance(function, dict):
        inner = function.get("config")
        name = inner if isinstance(inner, str) else None
        if function.get("class_name") == "__lambda__":
            name = None
    elif isinstance(function, str) and config.get("function_type") == "function":
        name = function
    for key in (name, layer_name):
        if key is not None and key in custom_objects:
            return custom_objects[key]
    stored = "the bytecode of a lambda" if name is None else f"the function {name!r}"
    raise KerasFileError(
        f"The Lambda layer {layer_name!r} holds {stored}; lstmkit never runs code from a file. Pass the function as "
        f"custom_objects={{{(name or layer_name)!r}: function}}")


def layer_spec(spec: Any, custom_objects: Mapping[str, Any]) -> dict[str, Any]:
    """A Keras layer description `{"class_name", "config"}` as lstmkit's, checked."""
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        raise KerasFileError(f"Expected a layer description {{'class_name': ..., 'config': ...}}, got {spec!r:.100}")
    class_name = spec["class_name"]
    config = spec.get("config", {})
    if not isinstance(config, dict):
        raise KerasFileError(f"The configuration of a {class_name} layer must be a dict, got {type(config).__name__}")
    name = config.get("name", class_name)
    where = f"The {class_name} layer {name!r}"
    if class_name in ("Functional", "Model"):
        return {"class_name": "Model", "config": functional_config(config, custom_objects)}
    if class_name == "Sequential":
        return {"class_name": "Sequential", "config": sequential_config(config, custom_objects)}
    # a class registered in Keras as "package>Name" is looked for in custom_objects as either
    registered = str(spec.get("registered_name") or class_name)
    short = class_name.split(">")[-1]
    custom = next((custom_objects[k] for k in (class_name, registered, short, registered.split(">")[-1])
                   if isinstance(custom_objects.get(k), type)), None)
    cls = custom if custom is not None else lookup(class_name)
    if cls is None or (registered != class_name and custom is None):
        raise KerasFileError(f"{where} is of a class lstmkit does not have; a layer class of your own is only taken from "
                             f"custom_objects={{{short!r}: YourLayer}}")
    if custom is not None:  # a user's class takes its own configuration, less Keras's own settings
        if isinstance(custom_objects, dict):  # rebuilt by its own name, whatever key it was given under
            custom_objects.setdefault(cls.__name__, cls)
        return {"class_name": cls.__name__, "config": {k: v for k, v in config.items() if k not in _IGNORED}}
    accepted = _accepted(cls)
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key in _IGNORED or key.endswith("_initializer"):
            continue
        if key.endswith("_regularizer"):
            value = _regularizer(value, where)
        elif key.endswith("_constraint"):
            value = _constraint(value, where)
        elif key in ("activation", "recurrent_activation"):
            value = _named(value, "activation", where, custom_objects)
        elif key in ("layer", "backward_layer", "cell") and isinstance(value, dict):
            value = layer_spec(value, custom_objects)
        elif key == "function" and class_name == "Lambda":
            value = _lambda_function(config, str(name), custom_objects)
        elif key in ("output_shape", "mask", "function_type", "module", "output_shape_type", "output_shape_module") \
                and class_name == "Lambda":
            if key == "output_shape" and isinstance(value, (list, tuple)):
                out[key] = list(value)
            continue
        if accepted is not None and key not in accepted:
            if value in (None, False, 0, 0.0, [], {}, ()):
                continue
            raise KerasFileError(f"{where} sets {key}={value!r:.80}, which lstmkit's {class_name} does not have")
        out[key] = value
    if class_name == "InputLayer" and "batch_shape" not in out and "batch_input_shape" not in out:
        shape = config.get("shape")
        if shape is not None:
            out["batch_shape"] = [config.get("batch_size"), *shape]
    if class_name == "InputLayer" and isinstance(config.get("dtype"), str):
        out["dtype"] = "int64" if "int" in config["dtype"] else "float32"
    elif class_name != "InputLayer" and (policy := _mixed_policy(config.get("dtype"))) is not None:
        out["dtype"] = policy  # a mixed-precision layer stays one
    return {"class_name": cls.__name__, "config": out}


def _mixed_policy(value: Any) -> str | None:
    """The mixed-precision policy a Keras layer's "dtype" names ("mixed_float16", or Keras 3's
    {"class_name": "DTypePolicy", "config": {"name": ...}}), else None."""
    if isinstance(value, dict):
        config = value.get("config")
        value = config.get("name") if isinstance(config, dict) else None
    return value if value in ("mixed_float16", "mixed_bfloat16") else None


def _ref(value: Any) -> Any:
    """A tensor in a node's arguments, Keras 3's `__keras_tensor__` or Keras 2's [layer, call,
    output(, kwargs)], as lstmkit's [layer, call, output]; other values as they are."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        history = value.get("config", {}).get("keras_history")
        if not (isinstance(history, list) and len(history) == 3):
            raise KerasFileError(f"A tensor in the graph has no keras_history: {value!r:.100}")
        return [str(history[0]), int(history[1]), int(history[2])]
    if isinstance(value, list):
        return [_ref(v) for v in value]
    if isinstance(value, dict):
        return {k: _ref(v) for k, v in value.items()}
    return value


def _is_ref(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) and isinstance(value[1], int)


def _refs_in(value: Any) -> Iterator[list[Any]]:
    if _is_ref(value):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _refs_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _refs_in(v)


def _nodes_of(class_name: str, layer_name: str, inbound: Any) -> list[dict[str, Any]]:
    """A layer's calls as lstmkit's node entries, from either Keras's form."""
    nodes = []
    for node in inbound or []:
        if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
            args = [_ref(a) for a in node.get("args", [])]
            kwargs = {k: _ref(v) for k, v in node.get("kwargs", {}).items() if k not in ("training", "mask")}
            arg: Any = args[0] if len(args) == 1 else args
        else:  # Keras 2: [[layer, call, output, kwargs], ...]
            entries = [[str(e[0]), int(e[1]), int(e[2])] for e in node]
            kwargs = {k: _ref(v) for k, v in (node[0][3] if len(node[0]) > 3 and isinstance(node[0][3], dict) else {}).items()
                      if k not in ("training", "mask")}
            if class_name in _RECURRENT and len(entries) > 1:  # Keras 2 passed initial states as more inputs
                arg, kwargs["initial_state"] = entries[0], entries[1:]
            else:
                arg = entries[0] if len(entries) == 1 else entries
        nodes.append({"layer": layer_name, "args": arg, "kwargs": kwargs})
    return nodes


def functional_config(config: dict[str, Any], custom_objects: Mapping[str, Any]) -> dict[str, Any]:
    """A Keras functional model's configuration as `lstmkit.models.Model.from_config` takes it."""
    layers, pending = [], []
    entries = config.get("layers", [])
    # Keras 3 writes the masks it passes between layers as calls of its own (a NotEqual after an
    # Embedding) given as `mask=`; lstmkit's layers pass masks on themselves, so those calls,
    # read by nothing else, are left out
    read = {r[0] for entry in entries for n in _nodes_of(entry.get("class_name", ""), "", entry.get("inbound_nodes"))
            for r in _refs_in([n["args"], n["kwargs"]])}
    read |= {r[0] for r in _refs_in(_ref([config.get("output_layers")]))}
    for entry in entries:
        name = entry.get("name") or entry.get("config", {}).get("name")
        if name not in read and lookup(str(entry.get("class_name"))) is None and entry.get("class_name") not in (
                "Functional", "Model", "Sequential") and entry.get("class_name") not in custom_objects:
            continue
        spec = layer_spec(entry, custom_objects)
        layers.append(spec)
        if spec["class_name"] != "InputLayer":
            pending += _nodes_of(entry["class_name"], name, entry.get("inbound_nodes"))
    nodes = _in_call_order(pending, {(spec["config"]["name"], 0) for spec in layers if spec["class_name"] == "InputLayer"})

    def ends(value: Any) -> Any:
        value = _ref(value)
        return value if _is_ref(value) or not isinstance(value, list) or len(value) != 1 else value[0]

    return {"name": config.get("name"), "trainable": config.get("trainable", True), "layers": layers, "nodes": nodes,
            "inputs": ends(config.get("input_layers")), "outputs": ends(config.get("output_layers"))}


def _in_call_order(pending: list[dict[str, Any]], inputs: set[tuple[str, int]]) -> list[dict[str, Any]]:
    """Keras lists layers, not calls, in order: the calls ordered so that each comes after the
    calls it reads (the first ready one in the file's order each time; a call of a layer is its
    n-th when n of its calls came before), in time linear in the graph."""
    waiting: dict[tuple[str, int], list[int]] = {}  # a call's output -> the calls that read it
    unmet = []
    ready: list[int] = []
    for i, node in enumerate(pending):
        needs = {(r[0], r[1]) for r in _refs_in([node["args"], node["kwargs"]])} - inputs
        unmet.append(len(needs))
        for need in needs:
            waiting.setdefault(need, []).append(i)
        if not needs:
            ready.append(i)
    heapq.heapify(ready)
    calls: dict[str, int] = {}
    nodes = []
    while ready:
        node = pending[heapq.heappop(ready)]
        nodes.append(node)
        made = (node["layer"], calls.get(node["layer"], 0))
        calls[node["layer"]] = made[1] + 1
        for reader in waiting.pop(made, []):
            unmet[reader] -= 1
            if unmet[reader] == 0:
                heapq.heappush(ready, reader)
    if len(nodes) != len(pending):
        missing = sorted({need[0] for need in waiting})
        raise KerasFileError(f"The graph reads layers {missing[:20]} that it never computes")
    return nodes


def sequential_config(config: dict[str, Any], custom_objects: Mapping[str, Any]) -> dict[str, Any]:
    entries = config.get("layers", config) if isinstance(config, dict) else config  # Keras 1-2: a list
    layers = [layer_spec(entry, custom_objects) for entry in entries]
    if layers and layers[0]["class_name"] != "InputLayer":
        first = layers[0]["config"]
        shape = first.pop("batch_input_shape", None) or config.get("build_input_shape")
        if shape is not None:
            layers.insert(0, {"class_name": "InputLayer", "config": {"batch_shape": list(shape)}})
    return {"name": config.get("name"), "layers": layers}


def build(spec: dict[str, Any], custom_objects: Mapping[str, Any], path: str) -> Any:
    """The model `spec` (lstmkit's form) describes, weights allocated but not drawn."""
    try:
        with initializers.skip_initialization():
            model = deserialize(spec, custom_objects)
    except KerasFileError:
        raise
    except (TypeError, KeyError, ValueError, AttributeError, IndexError) as err:
        raise KerasFileError(f"{path!r}: the Keras architecture cannot be rebuilt in lstmkit ({type(err).__name__}: "
                             f"{str(err)[:300]})") from None
    if not model.built:
        raise KerasFileError(f"{path!r}: the saved model has no input shape, so it cannot be rebuilt")
    return model


# ---- the weights ------------------------------------------------------------------------------

def _array(group: Any, name: str) -> Any:
    """The array `name` in `group` (an `hdf5.Group`: the file already read, nothing in it refers
    outside it)."""
    found = group.get(name) if isinstance(group, hdf5.Group) else None
    if not isinstance(found, hdf5.Array):
        raise KerasFileError(f"{getattr(group, 'name', '?')}/{name} is not an array in the file")
    return found


def _numbered(group: Any) -> list[Any]:
    """A Keras 3 `vars` group's arrays, in their numeric order."""
    if group is None:
        return []
    if not isinstance(group, hdf5.Group) or not all(k.isdigit() for k in group.keys()):
        raise KerasFileError(f"{getattr(group, 'name', '?')} is not a group of numbered arrays")
    return [_array(group, k) for k in sorted(group.keys(), key=int)]


def _keras3_arrays(group: Any, layer: Any) -> list[Any]:
    """A layer's arrays in a Keras 3 weights file, in Keras's weight order (lstmkit's too): its
    own `vars`, then those of what it holds (a cell, the two directions, a wrapped layer, the
    layers of a model)."""
    if group is None:
        return []
    if not isinstance(group, hdf5.Group):
        raise KerasFileError(f"{group.name} is an array where Keras keeps a layer's group")
    arrays = _numbered(group.get("vars"))
    if hasattr(layer, "layers"):  # a model: its layers in turn
        inner = group.get("layers")
        for sub, key in zip(layer.layers, _keras3_keys(layer.layers)):
            arrays += _keras3_arrays(None if inner is None else inner.get(key), sub)
        return arrays
    if isinstance(layer, Bidirectional):
        return arrays + _keras3_arrays(group.get("forward_layer"), layer.forward_layer) + \
            _keras3_arrays(group.get("backward_layer"), layer.backward_layer)
    if isinstance(layer, TimeDistributed):
        return arrays + _keras3_arrays(group.get("layer"), layer.layer)
    for key in sorted(k for k in group.keys() if k != "vars"):  # a recurrent layer's cell
        arrays += _keras3_arrays(group[key], None)
    return arrays


def _keras3_keys(layers: Any) -> list[str]:
    """The groups Keras 3 stores a model's layers under: not their names but their classes' in
    snake case, numbered in order among layers of one class (`lstm`, `lstm_1`, ...)."""
    seen: dict[str, int] = {}
    keys = []
    for layer in layers:
        key = snake_case("Functional" if type(layer).__name__ == "Model" else type(layer).__name__)
        seen[key] = seen.get(key, -1) + 1
        keys.append(key if seen[key] == 0 else f"{key}_{seen[key]}")
    return keys


def _names(group: Any, key: str) -> list[str]:
    """A legacy file's list attribute (`layer_names`, `weight_names`) as a list of str."""
    if not isinstance(group, hdf5.Group):
        raise KerasFileError(f"{getattr(group, 'name', '?')} is an array where Keras keeps a layer's group")
    names = group.attrs.get(key, [])
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise KerasFileError(f"{group.name}: the {key} attribute is not a list of names")
    return names


def _legacy_arrays(group: Any) -> list[Any]:
    return [_array(group, n) for n in _names(group, "weight_names")]


def _per_layer(model: Any, f: Any, path: str) -> list[tuple[Layer, list[Any]]]:
    """Each of the model's layers with its arrays (HDF5 datasets, not read yet) from the file."""
    if "layers" in f and "layer_names" not in f.attrs and "model_weights" not in f:  # Keras 3
        root = f["layers"]
        return [(layer, _keras3_arrays(root.get(key), layer)) for layer, key in zip(model.layers, _keras3_keys(model.layers))]
    root = f["model_weights"] if "model_weights" in f else f
    names = _names(root, "layer_names")
    with_weights = [n for n in names if _names(root[n], "weight_names")]
    ours = [layer for layer in model.layers if layer.weights]
    if [layer.name for layer in ours] != with_weights and len(ours) == len(with_weights):
        by_name = dict(zip(with_weights, ours))  # Keras 2 numbered names (lstm_1, ...): match in order
        return [(by_name[n], _legacy_arrays(root[n])) for n in with_weights]
    return [(layer, _legacy_arrays(root[layer.name]) if layer.name in root else []) for layer in model.layers]


def _checked(pairs: list[tuple[Layer, list[Any]]], path: str) -> None:
    """Each layer's arrays against its weights: as many, of as many values each (shapes read from
    the HDF5 headers, no data)."""
    for layer, arrays in pairs:
        expected = [tuple(w.shape) for w in layer.weights]
        found = [tuple(a.shape) for a in arrays]
        if len(found) != len(expected) or any(np.prod(e) != np.prod(g) for e, g in zip(expected, found)):
            raise KerasFileError(f"{path!r}: layer {layer.name!r} ({type(layer).__name__}) has weights of shapes {expected}, "
                                 f"the file holds {found}")


def load_weights_from(model: Any, f: Any, path: str) -> None:
    """Sets every layer's weights from an open Keras HDF5 file, all or nothing: counts and shapes
    are checked first, then every layer's arrays are read and checked as its `set_weights` takes
    them (Keras's layouts: Keras 2 CuDNNGRU's flat bias, say), and only then is any weight set."""
    pairs = _per_layer(model, f, path)
    _checked(pairs, path)
    checked = []
    for layer, arrays in pairs:
        values = [np.asarray(a[()]) for a in arrays]
        for a in values:
            if a.dtype.kind != "f":
                raise KerasFileError(f"{path!r}: layer {layer.name!r} holds weights of dtype {a.dtype}, not floats")
        if values:
            try:
                checked += layer.checked_weights(values)
            except (ValueError, TypeError) as err:
                raise KerasFileError(f"{path!r}: {err}; no weight of the model was changed") from None
    copy_checked(checked)


# ---- entry points -----------------------------------------------------------------------------

def _json(text: Any, path: str, what: str) -> Any:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if not isinstance(text, str) or len(text) > MAX_CONFIG_BYTES:
        raise KerasFileError(f"{path!r}: {what} is missing or larger than {MAX_CONFIG_BYTES >> 20} MiB")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise KerasFileError(f"{path!r}: {what} is not valid JSON ({err})") from None


def _compile_from(model: Any, config: Any, path: str, custom_objects: Mapping[str, Any]) -> None:
    """Compiles the model as the file's compile settings say, when lstmkit has its optimizer,
    losses and metrics (the optimizer starts afresh; its state is not read); else warns."""
    if not isinstance(config, dict) or not config.get("loss"):
        return
    optimizer = config.get("optimizer") or config.get("optimizer_config")
    try:
        if isinstance(optimizer, dict):
            settings = optimizer.get("config", {})
            cls = optimizers_module.class_named(str(optimizer.get("class_name")))
            made = cls(learning_rate=float(settings.get("learning_rate", 1e-3)))
        else:
            made = optimizers_module.get(optimizer or "rmsprop")

        def plain(value: Any) -> Any:
            """A loss or metric as Keras stored it, as lstmkit takes it: a name, or an object of
            lstmkit's class of that name with the settings it has."""
            if isinstance(value, dict) and "class_name" in value:
                name = str(value["class_name"])
                if name in custom_objects:
                    return custom_objects[name]
                cls = losses_module.CLASSES.get(name) or getattr(metrics_module, name, None)
                if isinstance(cls, type):
                    accepted = _accepted(cls)  # None: the class takes any keyword (a loss's **options)
                    settings = {k: v for k, v in value.get("config", {}).items() if k != "dtype"}
                    return cls(**{k: v for k, v in settings.items() if accepted is None or k in accepted})
                return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
            if isinstance(value, list):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return custom_objects.get(value, value) if isinstance(value, str) else value

        metrics = plain(config.get("metrics"))
        if isinstance(metrics, list) and len(metrics) == 1 and isinstance(metrics[0], list) and len(model.output_names) == 1:
            metrics = metrics[0]
        model.compile(optimizer=made, loss=plain(config["loss"]), metrics=metrics,
                      loss_weights=config.get("loss_weights"))
    except (AttributeError, TypeError, ValueError) as err:
        warnings.warn(f"{path!r}: the model is loaded uncompiled; its compile settings do not carry over to lstmkit "
                      f"({err}). Call model.compile(...) yourself.", UserWarning, stacklevel=3)


MAX_WEIGHTS_BYTES = 64 << 30  # the weights member of a .keras archive


@contextlib.contextmanager
def _refusals(path: str, what: str) -> Iterator[None]:
    """Every failure of loading `path` as a KerasFileError that names the file: lstmkit's own
    refusals (given the file's name where they lack it), the HDF5 reader's, and the errors a
    damaged file raises in zipfile, json and the rebuilding of the model."""
    try:
        yield
    except KerasFileError as err:
        raise (err if repr(path) in str(err) or path in str(err) else KerasFileError(f"{path!r}: {err}")) from None
    except hdf5.Hdf5Error as err:
        raise KerasFileError(str(err)) from None
    except (OSError, KeyError, IndexError, TypeError, AttributeError, ValueError, RuntimeError, zipfile.BadZipFile,
            RecursionError, NotImplementedError, EOFError) as err:
        raise KerasFileError(f"{path!r} is not a whole Keras {what} ({type(err).__name__}: {str(err)[:200]})") from None


def load(path: str, custom_objects: Mapping[str, Any] | None = None, compile: bool = True) -> Any:
    """A model from a Keras `.keras` archive or a Keras 2/3 legacy `.h5` file (see the module doc).

    Raises:
        KerasFileError: (a ValueError) naming the file, for anything that cannot be loaded.
    """
    with _refusals(path, "model file lstmkit can read"):
        return _load(path, dict(custom_objects or {}), compile)


def _load(path: str, custom_objects: dict[str, Any], compile: bool) -> Any:
    kind = file_kind(path)
    if kind == "keras":
        with zipfile.ZipFile(path) as z:
            unique_names(path, z, _refuse)
            top = _json(read_member(path, z, z.getinfo("config.json"), MAX_CONFIG_BYTES, _refuse), path, "config.json")
            weights = read_member(path, z, z.getinfo("model.weights.h5"), MAX_WEIGHTS_BYTES, _refuse)
        model = _model_for(top, hdf5.read(weights, f"Keras file {path!r} (its model.weights.h5)"), path, custom_objects)
        if compile and isinstance(top, dict):
            _compile_from(model, top.get("compile_config"), path, custom_objects)
        return model
    if kind == "hdf5":
        f = hdf5.read(path, f"Keras file {path!r}")
        if "model_config" not in f.attrs:
            raise KerasFileError(f"{path!r} holds weights only (no model_config): build the model, then call "
                                 "model.load_weights(path)")
        top = _json(f.attrs["model_config"], path, "the model_config attribute")
        model = _model_for(top, f, path, custom_objects)
        training = _json(f.attrs["training_config"], path, "the training_config attribute") \
            if "training_config" in f.attrs else None
        if compile:
            _compile_from(model, training, path, custom_objects)
        return model
    raise KerasFileError(f"{path!r} is neither a Keras .keras archive nor an HDF5 (.h5) file")


def _model_for(top: Any, f: Any, path: str, custom_objects: Mapping[str, Any]) -> Any:
    if not isinstance(top, dict):
        raise KerasFileError(f"{path!r}: the architecture is not a JSON object")
    spec = layer_spec({"class_name": top.get("class_name"), "config": top.get("config", {})}, custom_objects)
    if spec["class_name"] not in ("Model", "Sequential"):
        raise KerasFileError(f"{path!r} holds a {top.get('class_name')}, not a model")
    with torch.device("meta"):  # shapes alone: checked against the file before anything is allocated
        shapes = build(spec, custom_objects, path)
        _checked(_per_layer(shapes, f, path), path)
    model = build(spec, custom_objects, path)
    load_weights_from(model, f, path)
    return model


def load_weights(model: Any, path: str) -> None:
    """Loads a Keras weights file (`.weights.h5`, or Keras 2's `.h5`) into a built model, layer by
    layer by name (Keras 2's numbered names matched in order); all of them or none."""
    if not model.built:
        raise KerasFileError(f"Model {model.name!r} is not built: give it an input shape before load_weights({path!r})")
    with _refusals(path, "weights file"):
        load_weights_from(model, hdf5.read(path, f"Keras file {path!r}"), path)
