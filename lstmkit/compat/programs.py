"""Running a Keras program on lstmkit: its `keras` imports give lstmkit, nothing else changes.

`lstmkit run tutorial.py` runs the program as Python runs a script (it is `__main__`, for pickle
and multiprocessing too, and the processes it spawns run with the hook as well) with the `keras` import hook on
(`lstmkit.keras_alias`): `import keras`, `from keras.layers import LSTM`, Keras 2's module paths
and `tensorflow.keras` all give lstmkit's modules. The program's text is not rewritten and the
file on disk is left as it is.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib.machinery
import multiprocessing.spawn as mp_spawn
import os
import sys
import tokenize
import types
from typing import Any, Iterator, Mapping, Sequence

from .._checks import positive_int
from .keras_alias import install_keras_alias
from .numpy_aliases import numpy_aliases
from ..training.loop import epochs_override


PROGRAM_VARIABLE = "LSTMKIT_RUN_PROGRAM"  # the program's path, for the processes it spawns


def _source(path: str) -> Any:
    try:
        # Python's own rule: UTF-8 unless a "# -*- coding: ... -*-" line (or a BOM) says otherwise
        with tokenize.open(path) as f:
            source = f.read()
    except (UnicodeDecodeError, SyntaxError) as err:
        raise ValueError(
            f"{path!r} cannot be read as Python source text ({err}): save it as UTF-8, or name its "
            f"encoding in a first or second line such as '# -*- coding: latin-1 -*-'"
        ) from None
    return compile(source, path, "exec")


def _script_module(name: str, path: str) -> types.ModuleType:
    """A module as Python makes one for a script it runs: `__file__`, no `__spec__`."""
    module = types.ModuleType(name)
    module.__dict__.update(__file__=path, __builtins__=builtins, __spec__=None, __package__=None,
                           __loader__=importlib.machinery.SourceFileLoader(name, path), __cached__=None)
    return module


@contextlib.contextmanager
def _spawned_children_hooked(path: str) -> Iterator[None]:
    """Processes the program starts with multiprocessing's spawn or forkserver methods import
    the program again as their main module; there they import it through
    `lstmkit.compat._spawned_program`, which puts the keras hook on first. (Forked ones inherit it.)"""
    original = mp_spawn.get_preparation_data

    def preparation(name: str) -> dict[str, Any]:
        data = original(name)
        if data.pop("init_main_from_path", None) is not None:
            data["init_main_from_name"] = "lstmkit.compat._spawned_program"
        return data

    saved = os.environ.get(PROGRAM_VARIABLE)
    os.environ[PROGRAM_VARIABLE] = os.path.abspath(path)
    mp_spawn.get_preparation_data = preparation
    try:
        yield
    finally:
        mp_spawn.get_preparation_data = original
        if saved is None:
            os.environ.pop(PROGRAM_VARIABLE, None)
        else:
            os.environ[PROGRAM_VARIABLE] = saved


def run_program(
    path: str | os.PathLike[str], argv: Sequence[str] = (), init_globals: Mapping[str, Any] | None = None,
    epochs: int | None = None,
) -> dict[str, Any]:
    """Runs the program at `path` as Python runs a script, with lstmkit in place of keras: it is
    `sys.modules["__main__"]` (so that pickle and multiprocessing find its functions and classes),
    with `sys.argv`, `__file__` and `__spec__` (None) as `python path` sets them.

    Args:
        path: The program.
        argv: Its command-line arguments.
        init_globals: Names to define before it runs (as `runpy.run_path` takes them).
        epochs: When given, every `fit` (and `fit_generator`) call in the program trains this
            many epochs, whatever it asks for: a quick try of a long tutorial.

    Returns:
        The program's global names after it ran.
    """
    path = os.fspath(path)
    if epochs is not None:
        epochs = positive_int("epochs", epochs)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No program at {path!r}")
    code = _source(path)
    module = _script_module("__main__", path)
    module.__dict__.update(init_globals or {})
    saved_argv, saved_path, saved_main = sys.argv, list(sys.path), sys.modules.get("__main__")
    sys.argv = [path, *argv]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    sys.modules["__main__"] = module
    try:
        with install_keras_alias(), numpy_aliases(), epochs_override(epochs), _spawned_children_hooked(path):
            exec(code, module.__dict__)
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        if saved_main is not None:
            sys.modules["__main__"] = saved_main
    return module.__dict__


def run_spawned(names: dict[str, Any]) -> None:
    """In a process the program spawned: the program again, as its `__mp_main__` module
    (multiprocessing's name for it there), with the keras hook on for the process's life."""
    path = os.environ.get(PROGRAM_VARIABLE)
    if not path:
        raise RuntimeError(f"lstmkit.compat._spawned_program runs only in processes spawned under `lstmkit run` "
                           f"({PROGRAM_VARIABLE} is not set)")
    install_keras_alias()  # on until the process ends
    names.update(__file__=path)
    if sys.argv:
        sys.argv[0] = path
    exec(_source(path), names)
