"""Extracting a tar or zip archive from Keras's cache, safely and all at once.

What a program finds in the extraction folder is a whole extraction or nothing: the archive is
extracted into a temporary folder beside the target (`.NAME.*.partial`), which is renamed into
place only when every member is written; a failure removes it and raises a ValueError naming
the archive and the member (and what an extraction killed part-way left is removed by the next). Processes extracting the same archive (the ranks of a data-parallel
run) take turns through a lock file beside the target (`.NAME.lock`); a folder already extracted
from the same archive (same size and modification time, recorded in `.NAME.extracted`) is used as
it is, without extracting again.

Refused by name, before anything is written: members whose path leaves the folder (absolute,
`..`), links, devices and FIFOs, GNU sparse members (a few KB that expand to any size), a name
that is both a file and a folder, encrypted zip members and compression methods Python cannot
read. What an extraction writes is bounded: at most `MAX_EXTRACT_RATIO` times the archive's size
(but always at least `EXTRACT_FLOOR` bytes) and never more than `MAX_EXTRACT_BYTES`; each member
counts `MEMBER_COST` bytes more than its data (a file costs a disk block and an inode).
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import posixpath
import secrets
import shutil
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO, Any, Callable, Iterator

from .._zipread import ZIP_ERRORS

MAX_EXTRACT_BYTES = 64 << 30
MAX_EXTRACT_RATIO = 100
EXTRACT_FLOOR = 256 << 20
MEMBER_COST = 4096
_READ_ERRORS = (tarfile.TarError, zlib.error, *ZIP_ERRORS)

try:  # POSIX advisory locks, released by the OS when the holder dies
    import fcntl
except ImportError:  # Windows: extractions in parallel processes are not serialised
    fcntl = None  # type: ignore[assignment]


def extraction_budget(archive_bytes: int) -> int:
    """The most bytes one extraction of an archive of `archive_bytes` may write."""
    return min(MAX_EXTRACT_BYTES, max(EXTRACT_FLOOR, MAX_EXTRACT_RATIO * archive_bytes))


def _no_data() -> IO[bytes]:
    raise ValueError("a folder has no data")


@dataclass
class _Member:
    name: str  # normalised, relative, "/"-separated
    is_dir: bool
    size: int
    open: Callable[[], IO[bytes]]


def _normalised(path: str, raw: str) -> str:
    """A member's name as a relative path inside the folder; refuses one that leaves it."""
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or "\x00" in name:
        raise ValueError(f"{path!r}: the member {raw!r} has an absolute path; nothing was extracted")
    name = posixpath.normpath(name)
    if name == ".." or name.startswith("../"):
        raise ValueError(f"{path!r}: the member {raw!r} would be written outside the folder; nothing was extracted")
    return "" if name == "." else name


def _tar_data(archive: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    data = archive.extractfile(member)
    if data is None:
        raise ValueError(f"the member {member.name!r} has no data")
    return data


def _tar_members(path: str, archive: tarfile.TarFile) -> Iterator[_Member]:
    for m in archive:
        name = _normalised(path, m.name)
        if m.issparse():
            raise ValueError(f"{path!r}: the member {m.name!r} is a sparse file (its size is {m.size:,} bytes as "
                             "written out); lstmkit does not extract sparse members")
        if m.isdir():
            yield _Member(name, True, 0, _no_data)
        elif m.isfile():
            yield _Member(name, False, m.size, functools.partial(_tar_data, archive, m))
        else:
            what = "link" if m.issym() or m.islnk() else "device or FIFO"
            raise ValueError(f"{path!r} holds the {what} {m.name!r}; lstmkit extracts files and folders only, "
                             "nothing was extracted")


def _zip_members(path: str, archive: zipfile.ZipFile) -> Iterator[_Member]:
    for info in archive.infolist():
        name = _normalised(path, info.filename)
        kind = stat.S_IFMT(info.external_attr >> 16)  # Unix type bits, when the zip was made on Unix
        if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            raise ValueError(f"{path!r} holds the link or special file {info.filename!r}; nothing was extracted")
        if info.flag_bits & 0x1:
            raise ValueError(f"{path!r}: the member {info.filename!r} is encrypted; lstmkit cannot extract it")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
            raise ValueError(f"{path!r}: the member {info.filename!r} uses compression method {info.compress_type}, "
                             "which Python's zipfile cannot read")
        if info.is_dir():
            yield _Member(name, True, 0, _no_data)
        else:
            yield _Member(name, False, info.file_size, functools.partial(archive.open, info))


def _checked(path: str, members: Iterator[_Member], budget: int) -> list[_Member]:
    """The members, refused by name for a file/folder clash or for declaring more than `budget`."""
    kinds: dict[str, bool] = {}  # name -> is a folder
    planned, total = [], 0
    for member in members:
        total += member.size + MEMBER_COST
        if total > budget:
            raise ValueError(f"{path!r} would extract more than {budget:,} bytes (at most {MAX_EXTRACT_RATIO} times "
                             f"the archive's size, and {MAX_EXTRACT_BYTES:,} in all); nothing was extracted")
        if not member.name:
            if member.is_dir:
                continue
            raise ValueError(f"{path!r}: a file member is named '.' (the folder itself); nothing was extracted")
        parts = member.name.split("/")
        for depth in range(1, len(parts) + 1):
            prefix, is_dir = "/".join(parts[:depth]), depth < len(parts) or member.is_dir
            if kinds.setdefault(prefix, is_dir) != is_dir:
                raise ValueError(f"{path!r}: {prefix!r} is both a file and a folder in the archive; nothing was extracted")
        planned.append(member)
    return planned


def _write(path: str, planned: list[_Member], into: str, budget: int) -> None:
    written = 0
    for member in planned:
        target = os.path.join(into, *member.name.split("/"))
        if member.is_dir:
            os.makedirs(target, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with member.open() as source, open(target, "wb") as out:
            while block := source.read(1 << 20):
                written += len(block)
                if written > budget:
                    raise ValueError(f"{path!r} extracts more than {budget:,} bytes")
                out.write(block)


def _open(path: str, kind: str) -> Any:
    if kind == "tar":
        return tarfile.open(path) if tarfile.is_tarfile(path) else None
    return zipfile.ZipFile(path) if zipfile.is_zipfile(path) else None


@contextlib.contextmanager
def _turn(folder: str) -> Iterator[None]:
    """One process at a time extracts into `folder`."""
    parent, name = os.path.split(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    if fcntl is None:
        yield
        return
    fd = os.open(os.path.join(parent, f".{name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # drops the lock


def _stamp(path: str) -> str:
    info = os.stat(path)
    return f"{info.st_size} {info.st_mtime_ns}"


def extract_archive(path: str, folder: str, archive_format: Any = "auto") -> bool:
    """Extracts the tar (.tar, .tar.gz, .tar.bz2, .tar.xz) or zip archive at `path` into
    `folder`, all at once (see the module docstring); False when it is none of the formats
    asked for.

    Raises:
        ValueError: Naming the archive and what is wrong: a member refused, more data than the
            limit, or a damaged or cut-short archive (nothing is left behind).
    """
    if archive_format is None:
        return False
    formats = ["tar", "zip"] if archive_format == "auto" else [archive_format] if isinstance(archive_format, str) \
        else list(archive_format)
    for kind in formats:
        if kind not in ("tar", "zip"):
            raise ValueError(f"archive_format must be 'auto', 'tar', 'zip' or a list of them, got {archive_format!r}")
    folder = os.path.abspath(folder)
    parent, name = os.path.split(folder)
    marker = os.path.join(parent, f".{name}.extracted")
    budget = extraction_budget(os.path.getsize(path))
    with _turn(folder):
        for kind in formats:
            try:
                archive = _open(path, kind)
            except _READ_ERRORS as err:
                raise ValueError(f"{path!r} is a damaged {kind} archive ({type(err).__name__}: {err})") from None
            if archive is None:
                continue
            with archive:
                stamp = _stamp(path)
                if os.path.isdir(folder) and os.path.isfile(marker):
                    with open(marker) as f:
                        if f.read() == stamp:
                            return True  # extracted from this very archive already
                _remove_leftovers(parent, name)
                partial = _new_folder(parent, name, "partial")
                try:
                    members = _tar_members(path, archive) if kind == "tar" else _zip_members(path, archive)
                    _write(path, _checked(path, members, budget), partial, budget)
                    _replace(partial, folder)
                except _READ_ERRORS as err:
                    shutil.rmtree(partial, ignore_errors=True)
                    if isinstance(err, ValueError) and repr(path) in str(err):
                        raise
                    raise ValueError(f"{path!r} cannot be extracted, it is damaged or cut short "
                                     f"({type(err).__name__}: {err}); nothing was extracted") from None
                except BaseException:
                    shutil.rmtree(partial, ignore_errors=True)
                    raise
                with open(marker, "w") as f:
                    f.write(stamp)
                return True
    return False


def _new_folder(parent: str, name: str, kind: str) -> str:
    """A new folder `.NAME.<unique>.KIND` beside the target, with the permissions the umask gives
    (as the extraction itself will have)."""
    for _ in range(100):
        path = os.path.join(parent, f".{name}.{os.getpid()}-{secrets.token_hex(4)}.{kind}")
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue
    raise OSError(f"Could not make a temporary folder beside {os.path.join(parent, name)!r}")


def _remove_leftovers(parent: str, name: str) -> None:
    """Removes what extractions killed part-way left (their folders); called with the lock held,
    so no extraction into this folder is under way."""
    for kind in ("partial", "old"):
        for leftover in glob.glob(os.path.join(glob.escape(parent), f".{glob.escape(name)}.*.{kind}")):
            shutil.rmtree(leftover, ignore_errors=True)


def _replace(partial: str, folder: str) -> None:
    """Puts the finished extraction at `folder`, moving an earlier one aside first."""
    if os.path.lexists(folder):
        aside = _new_folder(os.path.dirname(folder), os.path.basename(folder), "old")
        os.rename(folder, os.path.join(aside, "old"))
        os.rename(partial, folder)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.rename(partial, folder)
