"""`tf.io`: whole-file reads and `tf.io.gfile` on local paths (no cloud file systems)."""

from __future__ import annotations

import glob as _glob
import os
import shutil
import types
from typing import Any

from ...data.strings import StringTensor

__all__ = ["read_file", "write_file", "gfile"]


def _path(value: Any) -> str:
    if isinstance(value, StringTensor):
        value = value.numpy()
    return os.fsdecode(value)


def read_file(filename: Any, name: str | None = None) -> StringTensor:
    with open(_path(filename), "rb") as f:
        return StringTensor.of(f.read())


def write_file(filename: Any, contents: Any, name: str | None = None) -> None:
    data = contents.numpy() if isinstance(contents, StringTensor) else contents
    with open(_path(filename), "wb") as f:
        f.write(data if isinstance(data, bytes) else str(data).encode())


def _open(name: Any, mode: str = "r") -> Any:
    return open(_path(name), mode)


def _makedirs(path: Any) -> None:
    os.makedirs(_path(path), exist_ok=True)


gfile = types.SimpleNamespace(
    GFile=_open, exists=lambda p: os.path.exists(_path(p)), glob=lambda p: sorted(_glob.glob(_path(p))),
    listdir=lambda p: sorted(os.listdir(_path(p))), makedirs=_makedirs, mkdir=lambda p: os.mkdir(_path(p)),
    isdir=lambda p: os.path.isdir(_path(p)), remove=lambda p: os.remove(_path(p)),
    rmtree=lambda p: shutil.rmtree(_path(p)), copy=lambda a, b, overwrite=False: shutil.copy(_path(a), _path(b)),
    walk=lambda p: os.walk(_path(p)),
)
