"""`keras` as another name for lstmkit: an import hook.

While the hook is on, importing `keras`, `keras.X.Y`, `tensorflow.keras.X.Y` or `tf_keras.X.Y`
gives lstmkit's modules: `import keras` then `keras.layers.LSTM(...)`, `from keras.layers.recurrent
import LSTM` (a Keras 2 path), `from tensorflow.keras.models import Sequential` all find lstmkit's
classes. Nothing in the program's text is rewritten. `import tensorflow as tf` gives
`lstmkit.compat.tf`, the part of TensorFlow 2 that tutorials call, on torch (its `tf.keras` is
lstmkit); a name outside it raises an error saying what to use instead.

The hook is a `sys.meta_path` finder that answers before every other finder for those names.
Each `keras...` module it makes is a small stand-in that looks its names up on the lstmkit
module it stands for (the objects are lstmkit's own: `keras.layers.LSTM is lstmkit.layers.LSTM`);
lstmkit's modules are never changed. A real `keras` or `tensorflow` already imported is set aside
while the hook is on and put back when it is taken off.

    >>> import lstmkit, lstmkit.layers
    >>> with lstmkit.install_keras_alias():
    ...     import keras
    ...     from keras.layers.recurrent import LSTM
    ...     keras.layers.LSTM is LSTM is lstmkit.layers.LSTM
    True
"""

from __future__ import annotations

import _imp
import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import types
from typing import Any, Sequence

import torch

# the packages whose modules the hook answers for
ROOTS = ("tensorflow.keras", "tf_keras", "keras")

# Keras 2 (and tf.keras) module paths, under a root, and the lstmkit module each one's names live in
RENAMED = {
    **{f"layers.{m}": "layers" for m in (
        "recurrent", "recurrent_v2", "core", "embeddings", "convolutional", "convolutional_recurrent",
        "cudnn_recurrent", "normalization", "normalization_v2", "pooling", "merge", "merging", "wrappers",
        "noise", "advanced_activations", "rnn", "reshaping", "regularization", "activation", "attention",
        "preprocessing", "local")},
    "layers.normalization.batch_normalization": "layers",
    "layers.normalization.layer_normalization": "layers",
    "utils.data_utils": "utils", "utils.np_utils": "utils", "utils.generic_utils": "utils",
    "utils.io_utils": "utils", "utils.layer_utils": "utils", "utils.vis_utils": "utils",
    "utils.all_utils": "utils", "utils.sequence": "utils",
    "engine": "models", "engine.training": "models", "engine.topology": "models", "engine.sequential": "models",
    "engine.functional": "models", "engine.input_layer": "layers", "engine.base_layer": "layers",
    "optimizers.legacy": "optimizers", "optimizers.schedules": "optimizers", "optimizer_v2": "optimizers",
    "saving": "models", "api": "", "api._v2": "", "api._v2.keras": "",
    "backend": "compat.backend", "ops": "compat.ops",
}

_lock = threading.RLock()


def lstmkit_name(fullname: str) -> str | None:
    """The lstmkit module a `keras...` module name stands for; None for names the hook leaves alone.

    >>> lstmkit_name("keras.layers.recurrent"), lstmkit_name("tensorflow.keras"), lstmkit_name("kerastuner")
    ('lstmkit.layers', 'lstmkit', None)
    """
    for root in ROOTS:
        if fullname == root or fullname.startswith(root + "."):
            rest = fullname[len(root) + 1:]
            rest = RENAMED.get(rest, rest)
            return "lstmkit" + ("." + rest if rest else "")
    return None


def _keras2_path(fullname: str) -> bool:
    """Whether `fullname` (under a Keras root) is one of Keras 2's module paths in RENAMED."""
    for root in ROOTS:
        if fullname.startswith(root + "."):
            return fullname[len(root) + 1:] in RENAMED
    return False


# `tensorflow.X` modules the hook gives (lstmkit.compat.tf's); `tensorflow.keras...` is lstmkit
TF_MODULES = ("config", "data", "errors", "io", "math", "nn", "random", "signal", "strings")


def _tensorflow_module(fullname: str) -> str | None:
    """The lstmkit module for `tensorflow` or `tensorflow.X` (X one of TF_MODULES)."""
    if fullname == "tensorflow":
        return "lstmkit.compat.tf"
    rest = fullname[len("tensorflow."):] if fullname.startswith("tensorflow.") else None
    return f"lstmkit.compat.tf.{rest}" if rest in TF_MODULES else None


def active() -> bool:
    """Whether a hook is on (`tf.keras` is then the `tensorflow.keras` stand-in)."""
    return _hooks.on > 0


class _StandIn(types.ModuleType):
    """A `keras...` module: its names are looked up on the lstmkit module it stands for."""

    def __init__(self, name: str, target: types.ModuleType) -> None:
        super().__init__(name, getattr(target, "__doc__", None))
        self.__path__: list[str] = []  # a package, so that `keras.layers.recurrent` can be imported below it
        self.__dict__["_lstmkit_module"] = target
        if hasattr(target, "__all__"):
            self.__all__ = list(target.__all__)

    def __getattr__(self, name: str) -> Any:
        target = self.__dict__["_lstmkit_module"]
        child = f"{self.__name__}.{name}"
        if _keras2_path(child):  # `from keras.layers import recurrent`: Keras 2's module, not lstmkit's of that name
            found = getattr(target, name, None)
            if not (isinstance(found, types.ModuleType) and found.__name__ == lstmkit_name(child)):
                return importlib.import_module(child)
        try:
            return getattr(target, name)
        except AttributeError:
            raise AttributeError(
                f"module {self.__name__!r} (lstmkit's {target.__name__!r}, running this program in place of Keras) "
                f"has no attribute {name!r}"
            ) from None

    def __dir__(self) -> list[str]:
        return sorted(set(dir(self.__dict__["_lstmkit_module"])) | set(self.__dict__))


class _Loader(importlib.abc.Loader):
    def __init__(self, target: str, tensorflow: bool = False) -> None:
        self.target = target  # the lstmkit module the name stands for
        self.tensorflow = tensorflow  # lstmkit's TensorFlow subset itself, given as it is (no stand-in)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        if self.tensorflow:
            _hooks.tensors_like_tensorflow()
            return importlib.import_module(self.target)
        try:
            module = importlib.import_module(self.target)
        except ModuleNotFoundError:
            raise ModuleNotFoundError(
                f"No module named {spec.name!r}: lstmkit, which runs this program in place of Keras, has no "
                f"{self.target!r}. lstmkit has: {', '.join(_public_modules())}", name=spec.name,
            ) from None
        return _StandIn(spec.name, module)

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the stand-in reads the lstmkit module, which is already imported."""


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None = None, target: Any = None
                  ) -> importlib.machinery.ModuleSpec | None:
        subset = _tensorflow_module(fullname)
        if subset is not None:
            return importlib.machinery.ModuleSpec(fullname, _Loader(subset, tensorflow=True), is_package=True)
        name = lstmkit_name(fullname)
        if name is None:
            if fullname.startswith("tensorflow."):  # tensorflow.python, tensorflow.compat, ...
                raise ModuleNotFoundError(
                    f"No module named {fullname!r}: lstmkit runs this program on torch with its own part of TensorFlow "
                    f"(tf.keras and tensorflow.{', tensorflow.'.join(TF_MODULES)}); {fullname} is not part of it. "
                    "Write that step with numpy or torch.", name=fullname)
            return None
        return importlib.machinery.ModuleSpec(fullname, _Loader(name), is_package=True)


def _public_modules() -> list[str]:
    import lstmkit

    return ["lstmkit." + m for m in lstmkit._SUBMODULES]


def _ours(name: str) -> bool:
    return name == "tensorflow" or name.startswith("tensorflow.") or lstmkit_name(name) is not None


class _Hooks:
    """What every hook shares: one finder, on `sys.meta_path` while any hook is on, and the real
    `keras` / `tensorflow` modules set aside when the first hook went on, put back when the last
    goes off. Hooks may overlap, nest, be removed in any order and come from any thread: the
    first on and the last off are the only moments `sys.modules` changes, under `_lock` and the
    interpreter's import lock (so that no import runs half-way through the change)."""

    def __init__(self) -> None:
        self.finder = _Finder()
        self.on = 0
        self.set_aside: dict[str, types.ModuleType] = {}
        self.tensor_numpy: Any = None  # torch's own Tensor.numpy while the TensorFlow one is in place

    def tensors_like_tensorflow(self) -> None:
        """Once a program imports TensorFlow through the hook, `tensor.numpy()` works as on a
        TensorFlow tensor: on one that needs gradients (a loss, a model's output) or lives on a GPU
        too, giving its values. Put back when the last hook goes off."""
        with _lock:
            if self.tensor_numpy is not None:
                return
            original = self.tensor_numpy = torch.Tensor.numpy

            def numpy(tensor: torch.Tensor, *, force: bool = False) -> Any:
                if tensor.requires_grad or tensor.device.type != "cpu":
                    tensor = tensor.detach().cpu()
                return original(tensor, force=force)
            numpy.__doc__ = original.__doc__
            torch.Tensor.numpy = numpy  # type: ignore[method-assign,assignment]

    def add(self) -> None:
        with _lock, _import_lock():
            if self.on == 0:
                modules = sys.modules.copy()  # one step: another thread may be importing meanwhile
                self.set_aside = {n: m for n, m in modules.items() if _ours(n)}
                for name in self.set_aside:
                    sys.modules.pop(name, None)
                sys.meta_path.insert(0, self.finder)
            self.on += 1

    def drop(self) -> None:
        with _lock, _import_lock():
            self.on -= 1
            if self.on == 0:  # the last hook off: drop the stand-ins, bring back what was there
                if self.finder in sys.meta_path:
                    sys.meta_path.remove(self.finder)
                for name in [n for n in sys.modules.copy() if _ours(n)]:
                    sys.modules.pop(name, None)
                sys.modules.update(self.set_aside)
                self.set_aside = {}
                if self.tensor_numpy is not None:
                    torch.Tensor.numpy = self.tensor_numpy  # type: ignore[method-assign]
                    self.tensor_numpy = None


class _import_lock:
    """The interpreter's global import lock, held while the hooks change `sys.modules`."""

    def __enter__(self) -> None:
        _imp.acquire_lock()

    def __exit__(self, *exc: Any) -> None:
        _imp.release_lock()


_hooks = _Hooks()


class KerasAlias:
    """The hook while it is on. `remove()` (or leaving a `with` block) takes it off; when no
    other hook is on, the `keras` / `tensorflow` entries of `sys.modules` are as they were
    before the first hook went on (a real Keras imported before is put back)."""

    def __init__(self) -> None:
        self.active = False

    def _install(self) -> "KerasAlias":
        _hooks.add()
        self.active = True
        return self

    def remove(self) -> None:
        with _lock:
            if not self.active:
                return
            self.active = False
            _hooks.drop()

    def __enter__(self) -> "KerasAlias":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def install_keras_alias() -> KerasAlias:
    """Makes `import keras` (and `tensorflow.keras`, `tf_keras`, Keras 2's module paths) give
    lstmkit, for the code that runs after it; `lstmkit run` does this around a program.

    Returns:
        The hook: call `.remove()` to take it off, or use it in a `with` block. A real Keras that
        is installed is shadowed only while the hook is on.
    """
    return KerasAlias()._install()
