"""Running a Keras program on lstmkit: its `keras` imports give lstmkit, nothing else changes.

`lstmkit run tutorial.py` runs the program as `__main__` with the `keras` import hook on
(`lstmkit.keras_alias`): `import keras`, `from keras.layers import LSTM`, Keras 2's module paths
and `tensorflow.keras` all give lstmkit's modules. The program's text is not rewritten and the
file on disk is left as it is.
"""

from __future__ import annotations

import os
import sys
import tokenize
from typing import Any, Mapping, Sequence

from ._checks import positive_int
from .keras_alias import install_keras_alias
from .training.loop import epochs_override


def run_program(
    path: str | os.PathLike[str], argv: Sequence[str] = (), init_globals: Mapping[str, Any] | None = None,
    epochs: int | None = None,
) -> dict[str, Any]:
    """Runs the program at `path` as `__main__` with lstmkit in place of keras.

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
    try:
        # Python's own rule: UTF-8 unless a "# -*- coding: ... -*-" line (or a BOM) says otherwise
        with tokenize.open(path) as f:
            source = f.read()
    except (UnicodeDecodeError, SyntaxError) as err:
        raise ValueError(
            f"{path!r} cannot be read as Python source text ({err}): save it as UTF-8, or name its "
            f"encoding in a first or second line such as '# -*- coding: latin-1 -*-'"
        ) from None
    code = compile(source, path, "exec")
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [path, *argv]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    names: dict[str, Any] = {**(init_globals or {}), "__name__": "__main__", "__file__": path, "__builtins__": __builtins__}
    try:
        with install_keras_alias(), epochs_override(epochs):
            exec(code, names)
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return names
