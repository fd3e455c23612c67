"""Writing files so that a crash, a kill or a full disk never leaves half a file behind.

`atomic_write(path, data)` writes to a temporary file beside `path`, flushes and fsyncs it,
renames it over `path` (an atomic step on POSIX and Windows) and fsyncs the directory, so the
rename itself survives a power cut. Until the rename, `path` still holds its previous contents;
on any failure the temporary file is removed and the error names `path`.

Everything lstmkit writes (models, weights, checkpoints, CSV logs, plots) comes through here, and
under data-parallel training these are the run's outputs, the same on every rank: only rank 0
writes them (`lstmkit.distributed.is_main_process`); on the other ranks a write does nothing.
"""

from __future__ import annotations

import os
import tempfile
from typing import Callable, BinaryIO

from . import distributed


def _fsync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some systems (Windows) cannot open a directory; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], data: bytes | Callable[[BinaryIO], None]) -> None:
    """Replaces `path` with `data` (bytes, or a function that writes to a binary file) all at once.

    Raises:
        OSError: When the directory cannot be written or the disk is full, naming `path`; the
            previous file at `path` is left as it was.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"Expected a file path to write, got the directory {path!r}")
    if not distributed.is_main_process():
        return  # one writer per run: rank 0
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    except OSError as err:
        raise OSError(err.errno, f"Could not write {path!r}: {err.strerror or err}") from err
    try:
        with os.fdopen(handle, "wb") as f:
            if isinstance(data, (bytes, bytearray, memoryview)):
                f.write(data)
            else:
                data(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException as err:
        try:
            os.remove(temporary)
        except OSError:
            pass
        if isinstance(err, OSError) and path not in str(err):
            raise OSError(err.errno, f"Could not write {path!r}: {err.strerror or err}") from err
        raise
    _fsync_directory(directory)
