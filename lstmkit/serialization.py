"""Layer and model configurations as JSON, and back.

`get_config()` holds plain values plus initializer, regularizer and constraint objects (and a
compile configuration loss and metric objects) and, for user code, callables. `to_json` writes an
object of this package's initializers, regularizers, constraints, losses and metrics as `{"module", "class_name", "config"}` (its constructor arguments,
which these classes keep under the same names), and a user's function as `{"custom_object": name}`,
which `from_json` resolves through `custom_objects`. Nothing is pickled.
"""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any, Mapping

from . import constraints, initializers, regularizers
from .training import losses, metrics

_MODULES: dict[str, ModuleType] = {
    "initializers": initializers,
    "regularizers": regularizers,
    "constraints": constraints,
    "losses": losses,  # loss objects (SparseCategoricalCrossentropy(from_logits=True), ...)
    "metrics": metrics,  # metric objects (RootMeanSquaredError(), ...)
}


def to_json(value: Any, where: str = "config") -> Any:
    """A JSON-ready copy of `value`; `where` names the place in errors."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return {str(k): to_json(v, f"{where}.{k}") for k, v in value.items()}
    cls = type(value)
    for module_name, module in _MODULES.items():
        if getattr(module, cls.__name__, None) is cls:
            params = inspect.signature(cls.__init__).parameters
            config = {p: getattr(value, p) for p in params if p != "self" and hasattr(value, p)}
            return {"module": module_name, "class_name": cls.__name__, "config": to_json(config, where)}
    name = getattr(value, "__name__", None)
    if callable(value) and isinstance(name, str) and name != "<lambda>":
        return {"custom_object": name}
    raise TypeError(
        f"Cannot write {where}={value!r} as JSON: give it a name (a def function) and pass it back "
        "in custom_objects when loading"
    )


def from_json(value: Any, custom_objects: Mapping[str, Any] | None = None) -> Any:
    """Undoes `to_json`; `custom_objects` maps the names of user functions to the functions."""
    if isinstance(value, list):
        return [from_json(v, custom_objects) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"custom_object"}:
        name = value["custom_object"]
        if not custom_objects or name not in custom_objects:
            raise ValueError(
                f"The saved configuration uses the function {name!r}; pass custom_objects={{{name!r}: {name}}}"
            )
        return custom_objects[name]
    if set(value) == {"module", "class_name", "config"} and value["module"] in _MODULES:
        cls = getattr(_MODULES[value["module"]], value["class_name"], None)
        if not isinstance(cls, type):
            raise ValueError(f"Unknown {value['module']} class {value['class_name']!r} in the saved configuration")
        return cls(**from_json(value["config"], custom_objects))
    return {k: from_json(v, custom_objects) for k, v in value.items()}
