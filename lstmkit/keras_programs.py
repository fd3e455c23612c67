"""Running a Keras program on lstmkit: its `keras` imports are redirected, nothing else changes.

`lstmkit run tutorial.py` reads the program, rewrites each import line that names the `keras`
package (`import keras`, `from keras.layers import LSTM`) to name `lstmkit`, and runs the result
as `__main__`. The file on disk is left as it is.
"""

from __future__ import annotations

import os
import re
import sys
import tokenize
from typing import Any, Mapping, Sequence

_IMPORT_LINE = re.compile(r"^(\s*)(from|import)(\s+)keras(?=[.\s]|$)")


def with_lstmkit_imports(source: str) -> str:
    """`source` with `keras` replaced by `lstmkit` on its import lines, and nowhere else.

    >>> with_lstmkit_imports("from keras.layers import LSTM\\nname = 'keras'\\nimport kerastuner")
    "from lstmkit.layers import LSTM\\nname = 'keras'\\nimport kerastuner"
    """
    return "\n".join(_IMPORT_LINE.sub(r"\1\2\3lstmkit", line) for line in source.split("\n"))


def is_keras_import(line: str) -> bool:
    return _IMPORT_LINE.match(line) is not None


def run_program(
    path: str | os.PathLike[str], argv: Sequence[str] = (), init_globals: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Runs the program at `path` as `__main__` with lstmkit in place of keras.

    Args:
        path: The program.
        argv: Its command-line arguments.
        init_globals: Names to define before it runs (as `runpy.run_path` takes them).

    Returns:
        The program's global names after it ran.
    """
    path = os.fspath(path)
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
    code = compile(with_lstmkit_imports(source), path, "exec")
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [path, *argv]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    names: dict[str, Any] = {**(init_globals or {}), "__name__": "__main__", "__file__": path, "__builtins__": __builtins__}
    try:
        exec(code, names)
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return names
