"""Keras's download cache, read offline: `get_file` (Keras's `keras.utils.get_file`).

Keras programs fetch their data with `get_file(fname, origin)`, which downloads `origin` into
`~/.keras/datasets/fname` (or under `$KERAS_HOME`) once and returns that path. lstmkit never
downloads: `get_file` returns the file when it is in that cache and otherwise raises an error
that gives the exact path to put the file at and the URL it comes from. Archives are extracted
where Keras 3 extracts them, all at once and within limits (`lstmkit.datasets._extract`).
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
import warnings
from typing import Any

from ._extract import extract_archive

__all__ = ["NotInCacheError", "extract_archive", "get_file", "keras_home"]


class NotInCacheError(FileNotFoundError):
    """The file a program asked for is not in Keras's cache, and lstmkit does not download."""


def keras_home() -> str:
    """Keras's cache root: `$KERAS_HOME`, else `~/.keras` (`/tmp/.keras` when home is not writable)."""
    if os.environ.get("KERAS_HOME"):
        return os.environ["KERAS_HOME"]
    base = os.path.expanduser("~")
    return os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")


def _hash(path: str, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _matches(path: str, file_hash: str, algorithm: str) -> bool:
    if algorithm == "auto":
        algorithm = "sha256" if len(file_hash) == 64 else "md5"
    if algorithm not in ("sha256", "md5"):
        raise ValueError(f"hash_algorithm must be 'auto', 'sha256' or 'md5', got hash_algorithm={algorithm!r}")
    return _hash(path, algorithm) == str(file_hash)


def get_file(
    fname: str | os.PathLike[str] | None = None,
    origin: str | None = None,
    untar: bool = False,
    md5_hash: str | None = None,
    file_hash: str | None = None,
    cache_subdir: str = "datasets",
    hash_algorithm: str = "auto",
    extract: bool = False,
    archive_format: Any = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
    force_download: bool = False,
) -> str:
    """The path of a file a Keras program downloads, taken from Keras's cache; nothing is downloaded.

    The file is looked for where Keras keeps it: `cache_dir` (default `$KERAS_HOME` or
    `~/.keras`) / `cache_subdir` / `fname` (`fname` defaults to the last part of `origin`). With
    `extract=True` (or `untar=True`) the archive is looked for and extracted as Keras 3 does:
    `fname="data.tar.gz"` is read from `.../data.tar.gz` and extracted into `.../data_extracted`,
    whose path is returned; a `fname` without a dot is read from `.../NAME_archive` and
    extracted into `.../NAME`.

    Args:
        fname: The file's name in the cache (or an absolute path to a file that exists).
        origin: The URL Keras would download from; named in the error when the file is missing.
        untar, extract, archive_format: Extract a tar or zip archive, as in Keras.
        file_hash, md5_hash, hash_algorithm: The file's expected SHA-256 or MD5; a file that
            differs is still used, with a warning (lstmkit cannot fetch the right one).
        cache_subdir, cache_dir: Where the cache lies, as in Keras; an absolute `cache_subdir`
            is used as it is.
        force_download: Keras downloads again; lstmkit uses the cached file and warns.

    Raises:
        NotInCacheError: (a FileNotFoundError) When the file is not there: the message gives the
            path to put it at and the origin URL.
        ValueError: For a missing origin, or an archive that cannot be extracted safely.
    """
    if origin is None:
        raise ValueError("get_file needs origin=, the URL of the file (lstmkit names it when the file is missing)")
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    name = os.fspath(fname) if fname is not None else ""
    if name and os.path.isabs(name) and os.path.isfile(name) and not (extract or untar):
        path = name
    else:
        if not name:
            name = os.path.basename(urllib.parse.urlsplit(origin).path)
            if not name:
                raise ValueError(f"Cannot take a file name from origin={origin!r}: pass fname=")
        folder = os.path.join(os.path.expanduser(os.fspath(cache_dir) if cache_dir is not None else keras_home()),
                              cache_subdir)
        extraction_dir = None
        if extract or untar:
            if fname is not None and "." in name:
                path = os.path.join(folder, name)
                extraction_dir = os.path.join(folder, name[: name.find(".")] + "_extracted")
            else:
                path = os.path.join(folder, name + "_archive")
                extraction_dir = os.path.join(folder, name)
        else:
            path = os.path.join(folder, name)
        if not os.path.isfile(path):
            if extraction_dir is not None and os.path.isdir(extraction_dir) and os.listdir(extraction_dir):
                return extraction_dir  # already extracted, the archive since removed
            raise NotInCacheError(
                f"lstmkit does not download: the program asks for {name!r}, which Keras would download from {origin} . "
                f"Download it on a machine with internet access and put it at {path}"
                + (" (the archive itself; it is extracted on first use)" if extraction_dir else "")
                + (". Set KERAS_HOME to use another cache folder." if cache_dir is None else ".")
            )
        if force_download:
            warnings.warn(f"get_file(force_download=True): lstmkit does not download; using the cached {path}",
                          UserWarning, stacklevel=2)
        if file_hash is not None and not _matches(path, file_hash, hash_algorithm):
            warnings.warn(
                f"{path} does not match the file_hash {file_hash} given for {origin}: it may be incomplete or another "
                "version. lstmkit cannot download it again and uses it as it is; replace it with the file from the origin "
                "if results look wrong.", UserWarning, stacklevel=2)
        if extraction_dir is not None:
            if untar:
                archive_format = "tar"
            if not extract_archive(path, extraction_dir, archive_format):
                warnings.warn(f"Could not extract {path}: it is not a {archive_format} archive", UserWarning, stacklevel=2)
            return extraction_dir
    return path
