"""NumPy's removed aliases (`np.float`, `np.int`, `np.bool`, `np.object`, ...) for old programs
run by `lstmkit run`: each gives the Python type it always stood for, with a warning that names
the program's line to change. NumPy itself is left as it was once the program ends.

NumPy 1.20 deprecated these names and 1.24 removed them, so `np.zeros(3, dtype=np.float)` in a
2018 tutorial stops with an AttributeError on any NumPy a user installs today.
"""

from __future__ import annotations

import builtins
import contextlib
import sys
import warnings
from typing import Any, Iterator

import numpy as np

# the removed name and the Python type it stood for
ALIASES = {"float": builtins.float, "int": builtins.int, "bool": builtins.bool, "object": builtins.object,
           "str": builtins.str, "long": builtins.int, "unicode": builtins.str, "complex": builtins.complex}


class NumpyAliasWarning(UserWarning):
    """An old program used one of NumPy's removed aliases."""


@contextlib.contextmanager
def numpy_aliases() -> Iterator[None]:
    """While on, `np.float` and the other removed aliases give their Python types (a warning
    naming the line, once per line)."""
    original = np.__dict__.get("__getattr__")

    def lookup(name: str) -> Any:
        if name in ALIASES:
            caller = sys._getframe(1)
            replacement = ALIASES[name].__name__
            warnings.warn_explicit(
                f"np.{name} was removed from NumPy (1.24); lstmkit gives {replacement} in its place. Change this line "
                f"to use {replacement}.",
                NumpyAliasWarning, caller.f_code.co_filename, caller.f_lineno)
            return ALIASES[name]
        if original is None:
            raise AttributeError(f"module 'numpy' has no attribute {name!r}")
        return original(name)

    np.__dict__["__getattr__"] = lookup
    try:
        yield
    finally:
        if original is None:
            np.__dict__.pop("__getattr__", None)
        else:
            np.__dict__["__getattr__"] = original
