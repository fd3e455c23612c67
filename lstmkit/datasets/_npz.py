"""Reading `.npy` arrays and `.npz` files (zips of them) from Keras's cache, files we did not
write: each member within the zip limits of `lstmkit._zipread`, its header's dtype a plain
number type (or, where the caller allows it, an object array, read by `_pickles`), and its
declared shape checked against the bytes really stored before anything is allocated.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import zipfile

import numpy as np
from numpy.lib import format as npy_format

from .._zipread import read_member, unique_names
from ._pickles import arrays_only_pickle

MAX_MEMBER_BYTES = 8 << 30  # one array of a data set; Keras's largest is about 200 MB
MAX_MEMBERS = 64


def read_npy(raw: bytes, member: str, path: str, objects: bool = False) -> np.ndarray:
    """The array in `raw` (a `.npy` file's bytes); object arrays (of word-id lists) only when
    `objects`, else refused by name."""
    f = io.BytesIO(raw)
    where = f"{path}: member {member!r}"
    try:
        version = npy_format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"format version {version}")
        shape, fortran, dtype = (npy_format.read_array_header_1_0(f) if version == (1, 0)
                                 else npy_format.read_array_header_2_0(f))
    except (ValueError, SyntaxError, TypeError, EOFError) as err:
        raise ValueError(f"{where} is not a .npy array ({err})") from None
    if dtype.hasobject:
        if not objects or dtype != np.dtype(object):
            raise ValueError(f"{where} holds the dtype {dtype}, not an array of numbers")
        try:
            array = arrays_only_pickle(f, limit=len(raw))
        except pickle.UnpicklingError as err:
            raise ValueError(f"{where} cannot be read as an array of word ids ({err})") from None
        if not isinstance(array, np.ndarray) or array.shape != shape:
            raise ValueError(f"{where} is not the array of shape {shape} its header declares")
        return array
    if dtype.kind not in "biuf" or dtype.names is not None or dtype.subdtype is not None or dtype.itemsize > 8:
        raise ValueError(f"{where} holds the dtype {dtype}, not an array of numbers")
    stored = len(raw) - f.tell()
    needed = math.prod(shape) * dtype.itemsize
    if stored != needed:
        raise ValueError(f"{where} declares an array of shape {shape} and dtype {dtype} ({needed:,} bytes); "
                         f"it holds {stored:,}")
    return np.frombuffer(raw, dtype=dtype, offset=f.tell()).reshape(shape, order="F" if fortran else "C").copy()


def load_npz(path: str | os.PathLike[str], objects: bool = False) -> dict[str, np.ndarray]:
    """The arrays of a `.npz` file by name (object arrays of word ids when `objects`).

    Raises:
        ValueError: Naming the file and the member, for anything but a whole `.npz` of arrays.
    """
    path = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = unique_names(path, archive)
            if len(names) > MAX_MEMBERS:
                raise ValueError(f"{path} holds {len(names):,} members; a data set's .npz holds a few arrays")
            return {info.filename[:-4]: read_npy(read_member(path, archive, info, MAX_MEMBER_BYTES), info.filename,
                                                 path, objects)
                    for info in archive.infolist() if info.filename.endswith(".npy")}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, RuntimeError) as err:
        raise ValueError(f"{path} is not a .npz file (a zip of .npy arrays); is the download complete? ({err})") from None
