"""Finding the data files shipped in `lstmkit/datasets/data/`, checked against their SHA-256, and
reading a data file of unknown size without letting it claim more than a limit."""

from __future__ import annotations

import hashlib
import os
import pathlib
from typing import Protocol

DATA_DIR = pathlib.Path(__file__).resolve().parent / "data"


def sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checked_path(name: str, expected_sha256: str, path: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """The shipped file `name` (or the file at `path`), after checking its SHA-256.

    Raises:
        FileNotFoundError: When the file is missing (a broken install).
        ValueError: When its checksum differs (a damaged or different file).
    """
    found = pathlib.Path(path) if path is not None else DATA_DIR / name
    if not found.is_file():
        raise FileNotFoundError(
            f"{found} is missing; lstmkit ships {name} inside the package, so the installation is "
            "incomplete: reinstall lstmkit"
        )
    actual = sha256(found)
    if actual != expected_sha256:
        raise ValueError(
            f"{found} has SHA-256 {actual}, expected {expected_sha256}: the file is damaged or not the "
            f"{name} lstmkit ships"
        )
    return found


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def read_at_most(f: _Readable, limit: int) -> bytes | None:
    """All of `f` (a file, or a decompressing stream) when it holds at most `limit` bytes, else
    None; read in blocks, so that nothing near `limit` is allocated for a short file."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = f.read(min(1 << 24, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    return None
