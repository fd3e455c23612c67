"""Writing files so that a crash, a kill or a full disk never leaves half a file behind.

`atomic_write(path, data)` writes to a temporary file beside `path`, flushes and fsyncs it,
renames it over `path` (an atomic step on POSIX and Windows) and fsyncs the directory, so the
rename itself survives a power cut. Until the rename, `path` still holds its previous contents;
on any failure the temporary file is removed and the error names `path`. A kill between the
write and the rename leaves the temporary file behind; the next write to the same `path`
removes it (its writer's lock on it went with the writer).

Everything lstmkit writes (models, weights, checkpoints, CSV logs, plots) comes through here, and
under data-parallel training these are the run's outputs, the same on every rank: only rank 0
writes them (`lstmkit.distributed.is_main_process`); on the other ranks a write does nothing.
"""

from __future__ import annotations

import glob
import os
import tempfile
from typing import Callable, BinaryIO

from . import distributed

try:  # POSIX advisory locks: released by the OS when the process holding them dies, however it dies
    import fcntl
except ImportError:  # Windows: no stale-file clean-up and no directory lock
    fcntl = None  # type: ignore[assignment]


def _try_lock(fd: int) -> bool:
    """Takes an exclusive lock on the open file `fd` without waiting; False if another holds it."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _remove_stale_temporaries(directory: str, name: str) -> None:
    """Removes temporary files of earlier writes to `name` whose writer died (a kill between the
    write and the rename); a write still under way holds its file's lock and is left alone."""
    if fcntl is None:
        return
    for leftover in glob.glob(os.path.join(glob.escape(directory), f".{glob.escape(name)}.*.tmp")):
        try:
            fd = os.open(leftover, os.O_RDONLY)
        except OSError:
            continue
        try:
            if _try_lock(fd):
                os.remove(leftover)
        except OSError:
            pass
        finally:
            os.close(fd)


class DirectoryLock:
    """An exclusive hold on a directory for one writer (a training run's checkpoints), through a
    lock on DIRECTORY/.lock that the OS drops when the holder exits or is killed. The file holds
    the holder's process id, for the message another writer gets."""

    FILE = ".lock"

    def __init__(self, directory: str, what: str) -> None:
        self.path = os.path.join(directory, self.FILE)
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            try:
                holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise ValueError(
                f"{self.what} {os.path.dirname(self.path)!r} is in use by another run (process {holder}); "
                "give this run a checkpoint_dir of its own, or wait for that one to end"
            )
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None


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
        _remove_stale_temporaries(directory, os.path.basename(path))
        handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
        _try_lock(handle)  # held until the file is renamed or removed: marks the write as alive
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
