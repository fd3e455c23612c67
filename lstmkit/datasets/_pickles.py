"""Reading the pickles Keras's data files hold (numpy object arrays of word-id lists; CIFAR's
batches of arrays and labels) without letting a file run code: the unpickler rebuilds numpy
arrays, numbers, strings, bytes, lists and dicts, and refuses every other class by name."""

from __future__ import annotations

import pickle
from typing import IO, Any

# what pickled numpy arrays are made of; nothing else may be rebuilt from a data file
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes (text to latin-1 bytes)
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refused {module}.{name}: a data file may hold only numpy arrays, lists, "
                                         "dicts, numbers and strings")
        return super().find_class(module, name)


def arrays_only_pickle(f: IO[bytes], encoding: str = "ASCII") -> Any:
    """The object pickled in `f`, built from arrays and plain Python values only
    (`encoding="bytes"` for Python 2 pickles, as CIFAR's are).

    Raises:
        pickle.UnpicklingError: Naming the class the file asks for, when it is anything else.
    """
    return _ArraysOnly(f, encoding=encoding).load()
