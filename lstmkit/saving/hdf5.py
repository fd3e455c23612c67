"""Reading an HDF5 file we did not write (Keras's `.h5` and `.weights.h5` files, the weights
inside a `.keras` archive) into plain Python objects, within bounds and without reading
anything outside it.

`read(source, label)` returns the file as a tree of `Group`s (their attributes as plain
values, str, numbers and lists) and `Array`s (numpy arrays, already read). Everything is read
by libhdf5 in a worker process forked for the purpose, which is abandoned (killed) when it runs
past `seconds_for(size)` or dies (a damaged file can make libhdf5 loop, crash or allocate without
end); the worker also runs under an address-space limit. Where the platform cannot fork
(Windows), the same reading runs in this process without those two guards.

What the reading refuses, naming the object: a link to another file (at any level of a path,
groups included) and link types other than hard and soft ones; a soft link that leaves the
file's tree or goes round more than `MAX_LINK_HOPS` times; a virtual dataset or one with
external raw storage (another file's bytes); filters other than deflate, shuffle and fletcher32
(a filter plugin would load code); a dataset whose stored bytes cannot hold the data its shape
declares (contiguous data stored short, chunks never written, compression beyond
`MAX_COMPRESSION`); a group that contains itself (a hard-link cycle); more objects read
than `OBJECTS_FLOOR` plus one per `BYTES_PER_OBJECT` bytes of file (one object reached through
many links counts each time), nesting beyond `MAX_DEPTH`, an attribute above
`MAX_ATTRIBUTE_BYTES`. Arrays of other than plain numbers and the root's optimizer groups
(which lstmkit never loads) are described but not read. Every failure is an `Hdf5Error`
(a ValueError) naming `label`.
"""

from __future__ import annotations

import io
import json
import math
import os
import posixpath
import select
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator

import h5py  # imported here, in the parent: a forked worker must not need the import lock
import numpy as np

try:
    import resource
except ImportError:  # Windows: no fork either, the reading runs in-process
    resource = None  # type: ignore[assignment]

HDF5_SECONDS = 2.0  # for reading the file's structure, however small
BYTES_PER_SECOND = 50 << 20  # and this much more time per byte of file
MEMORY_FLOOR = 512 << 20  # the worker's address space beyond the parent's: this, plus
MEMORY_PER_BYTE = 4  # this many bytes per byte of file
MAX_COMPRESSION = 100  # data bytes per stored byte of a compressed dataset
MAX_ATTRIBUTE_BYTES = 16 << 20
MAX_DEPTH = 32
MAX_LINK_HOPS = 8
OBJECTS_FLOOR = 1000  # objects read in one file: this many, plus one per
BYTES_PER_OBJECT = 64  # bytes of file (an object header takes more than that on disk)
UNREAD_GROUPS = ("optimizer", "optimizer_weights")  # at the root: an optimizer's state, never loaded


class Hdf5Error(ValueError):
    """An HDF5 file lstmkit refuses to read, and why."""


@dataclass
class Array:
    """A dataset: its path in the file, shape, dtype, and data (None when not of plain numbers)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    data: np.ndarray | None

    def __getitem__(self, key: Any) -> np.ndarray:
        if key != () or self.data is None:
            raise Hdf5Error(f"{self.name} holds {self.dtype} values, not numbers lstmkit reads")
        return self.data


@dataclass
class Group:
    """A group: its path in the file, attributes (plain values) and members."""

    name: str
    attrs: dict[str, Any] = field(default_factory=dict)
    children: dict[str, "Group | Array"] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        node: Any = self
        for part in key.strip("/").split("/"):
            if not isinstance(node, Group) or part not in node.children:
                return default
            node = node.children[part]
        return node

    def __getitem__(self, key: str) -> "Group | Array":
        found = self.get(key)
        if found is None:
            raise KeyError(f"{posixpath.join(self.name, key)} is not in the file")
        return found

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def keys(self) -> list[str]:
        return list(self.children)


# ---- in the worker: libhdf5 through h5py ---------------------------------------------------------

class _Reader:
    """Walks an open h5py File into a JSON-able description and a list of arrays."""

    def __init__(self, f: Any, size: int, label: str) -> None:
        self.h5py, self.f, self.label = h5py, f, label
        self.objects = 0
        self.max_objects = OBJECTS_FLOOR + size // BYTES_PER_OBJECT
        self.ancestors: list[Any] = []  # the groups on the path being walked, by address
        self.data_budget = MAX_COMPRESSION * size + (1 << 20)
        self.data_read = 0
        self.arrays: list[np.ndarray] = []

    def refuse(self, where: str, why: str) -> Hdf5Error:
        return Hdf5Error(f"{self.label}: {where} {why}")

    # links, followed one step at a time, never into another file
    def follow(self, group: Any, key: str, path: str, hops: int) -> Any:
        h5l, h5o, h5i = self.h5py.h5l, self.h5py.h5o, self.h5py.h5i
        name = key.encode("utf-8")
        info = group.id.links.get_info(name)
        if info.type == h5l.TYPE_EXTERNAL:
            other = group.id.links.get_val(name)[0]
            other = other.decode("utf-8", "replace") if isinstance(other, bytes) else str(other)
            raise self.refuse(path, f"is a link to another file ({other!r}); lstmkit reads what a file holds itself")
        if info.type == h5l.TYPE_SOFT:
            if hops >= MAX_LINK_HOPS:
                raise self.refuse(path, f"is a soft link followed more than {MAX_LINK_HOPS} times (a loop?)")
            target = group.id.links.get_val(name).decode("utf-8", "replace")
            return self.resolve(posixpath.normpath(posixpath.join(posixpath.dirname(path), target)), path, hops + 1)
        if info.type != h5l.TYPE_HARD:
            raise self.refuse(path, f"is a link of type {info.type}, which lstmkit does not follow")
        oid = h5o.open(group.id, name)
        kind = h5i.get_type(oid)
        if kind == h5i.GROUP:
            return self.h5py.Group(oid)
        if kind == h5i.DATASET:
            return self.h5py.Dataset(oid)
        raise self.refuse(path, "is neither a group nor a dataset")

    def resolve(self, target: str, path: str, hops: int) -> Any:
        """The object at the absolute path `target` (a soft link's), each step checked."""
        if not target.startswith("/"):
            raise self.refuse(path, f"is a soft link to {target!r}, outside the file's tree")
        node, walked = self.f, "/"
        for part in [p for p in target.split("/") if p]:
            walked = posixpath.join(walked, part)
            if not isinstance(node, self.h5py.Group) or part.encode("utf-8") not in set(node.id):
                raise self.refuse(path, f"is a soft link to {target!r}, which is not in the file")
            node = self.follow(node, part, walked, hops)
        return node

    def count(self, path: str, depth: int) -> None:
        self.objects += 1
        if self.objects > self.max_objects:
            raise self.refuse(path, f"is past the {self.max_objects:,} objects lstmkit reads in a file of this size "
                                    "(one object reached through many links counts each time)")
        if depth > MAX_DEPTH:
            raise self.refuse(path, f"is nested more than {MAX_DEPTH} deep")

    def address(self, obj: Any) -> Any:
        info = self.h5py.h5o.get_info(obj.id)
        return getattr(info, "token", None) or info.addr

    def group(self, g: Any, path: str, depth: int) -> dict[str, Any]:
        self.count(path, depth)
        here = self.address(g)
        if here in self.ancestors:
            raise self.refuse(path, "is a group that contains itself (a hard-link cycle)")
        self.ancestors.append(here)
        children = {}
        for raw in g.id:  # link names, in order; nothing is followed by listing them
            key = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            if depth == 0 and key in UNREAD_GROUPS:
                continue
            child_path = posixpath.join(path, key)
            obj = self.follow(g, key, child_path, 0)
            children[key] = self.group(obj, child_path, depth + 1) if isinstance(obj, self.h5py.Group) \
                else self.dataset(obj, child_path, depth + 1)
        self.ancestors.pop()
        return {"group": path, "attrs": self.attributes(g, path), "children": children}

    def attributes(self, obj: Any, path: str) -> dict[str, Any]:
        h5a, h5py = self.h5py.h5a, self.h5py
        out = {}
        for raw in obj.attrs.keys():
            aid = h5a.open(obj.id, raw.encode("utf-8") if isinstance(raw, str) else raw)
            self.count(f"{path} attribute {raw!r}", 0)
            try:
                stored = aid.get_storage_size()
            except RuntimeError:  # h5py reports an empty attribute's 0 as an error
                stored = 0
            if stored > MAX_ATTRIBUTE_BYTES:
                raise self.refuse(f"{path} attribute {raw!r}", f"declares {stored:,} bytes, above the limit of "
                                                              f"{MAX_ATTRIBUTE_BYTES:,}")
            dtype = aid.dtype
            if h5py.check_string_dtype(dtype) is None and (dtype.kind not in "biuf" or dtype.names is not None
                                                           or aid.get_space().get_simple_extent_npoints() > 4096):
                continue  # references, compounds, large numeric tables: nothing lstmkit reads
            out[str(raw)] = _plain(obj.attrs[raw])
        return out

    def dataset(self, d: Any, path: str, depth: int) -> dict[str, Any]:
        self.count(path, depth)
        h5d, h5z = self.h5py.h5d, self.h5py.h5z
        plist = d.id.get_create_plist()
        layout = plist.get_layout()
        if layout == h5d.VIRTUAL:
            raise self.refuse(path, "is a virtual dataset (made of other files' data); lstmkit reads stored arrays only")
        if plist.get_external_count():
            raise self.refuse(path, "keeps its data in another file (external storage); lstmkit reads stored arrays only")
        filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
        unknown = [f for f in filters if f not in (h5z.FILTER_DEFLATE, h5z.FILTER_SHUFFLE, h5z.FILTER_FLETCHER32)]
        if unknown:
            raise self.refuse(path, f"is stored through the filters {unknown}; lstmkit reads deflate, shuffle and "
                                    "fletcher32 only")
        shape, dtype = tuple(int(n) for n in d.shape), d.dtype
        described: dict[str, Any] = {"array": path, "shape": list(shape), "dtype": str(dtype), "index": None}
        if dtype.kind not in "biuf" or dtype.names is not None or dtype.subdtype is not None or dtype.itemsize > 8:
            return described  # not plain numbers: described, never read
        nbytes = math.prod(shape) * dtype.itemsize
        stored = d.id.get_storage_size()
        if layout == h5d.CHUNKED:
            chunks = d.chunks or shape
            expected = math.prod(-(-n // c) for n, c in zip(shape, chunks)) if nbytes else 0
            written = d.id.get_num_chunks()
            if written != expected:
                raise self.refuse(path, f"declares {nbytes:,} bytes of data in {expected:,} chunks and stores "
                                        f"{stored:,} in {written:,} (chunks never written)")
            if nbytes > MAX_COMPRESSION * stored + (4 << 10):
                raise self.refuse(path, f"declares {nbytes:,} bytes of data and stores {stored:,} (unwritten or "
                                        f"compressed more than {MAX_COMPRESSION} times)")
            chunk = math.prod(d.chunks or (1,)) * dtype.itemsize
            if chunk > 64 << 20:
                raise self.refuse(path, f"has chunks of {chunk:,} bytes")
        elif stored != nbytes:
            raise self.refuse(path, f"declares {nbytes:,} bytes of data and stores {stored:,}")
        self.data_read += nbytes
        if self.data_read > self.data_budget:
            raise self.refuse(path, f"takes the data read past {self.data_budget:,} bytes, more than the file can hold")
        data = np.asarray(d[()])
        if data.shape != shape or data.dtype != dtype:
            raise self.refuse(path, f"reads as {data.dtype}{data.shape}, not the {dtype}{shape} it declares")
        described["index"] = len(self.arrays)
        self.arrays.append(np.ascontiguousarray(data, dtype=dtype.newbyteorder("=")))
        return described


def _plain(value: Any) -> Any:
    """An attribute's value as JSON-able Python: str for text, numbers, lists of them (None for
    an attribute without a value, h5py's Empty)."""
    if isinstance(value, h5py.Empty):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):  # h5py keeps undecodable bytes as lone surrogates, which cannot be printed
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()] if value.ndim else _plain(value[()])
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _walk(source: str | bytes, label: str) -> tuple[dict[str, Any], list[np.ndarray]]:
    size = len(source) if isinstance(source, bytes) else os.path.getsize(source)
    opened = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with h5py.File(opened, "r") as f:
            reader = _Reader(f, size, label)
            tree = reader.group(f, "/", 0)
    except Hdf5Error:
        raise
    except Exception as err:  # h5py's and libhdf5's own errors on a damaged file
        raise Hdf5Error(f"{label} is not a whole HDF5 file lstmkit can read ({type(err).__name__}: {str(err)[:300]})") \
            from None
    return tree, reader.arrays


def _encode(tree: dict[str, Any], arrays: list[np.ndarray]) -> Iterator[bytes]:
    head = json.dumps({"tree": tree, "arrays": [[a.dtype.str, list(a.shape)] for a in arrays]}).encode("utf-8")
    yield len(head).to_bytes(8, "little") + head
    for a in arrays:
        yield a.tobytes()


def _decode(payload: bytes, label: str) -> Group:
    n = int.from_bytes(payload[:8], "little")
    head = json.loads(payload[8:8 + n].decode("utf-8"))
    at, arrays = 8 + n, []
    for dtype, shape in head["arrays"]:
        count = math.prod(shape) * np.dtype(dtype).itemsize
        arrays.append(np.frombuffer(payload, dtype=dtype, count=math.prod(shape), offset=at).reshape(shape).copy())
        at += count

    def build(node: dict[str, Any]) -> Group | Array:
        if "group" in node:
            return Group(node["group"], node["attrs"], {k: build(v) for k, v in node["children"].items()})
        index = node["index"]
        return Array(node["array"], tuple(node["shape"]), node["dtype"], None if index is None else arrays[index])

    built = build(head["tree"])
    assert isinstance(built, Group)
    return built


# ---- in this process -------------------------------------------------------------------------------

def seconds_for(size: int) -> float:
    """How long the worker may take for a file of `size` bytes."""
    return HDF5_SECONDS + size / BYTES_PER_SECOND


def read(source: str | bytes, label: str) -> Group:
    """The HDF5 file at the path `source` (or in the bytes `source`) as a tree, read as the module
    docstring says; `label` names it in errors.

    Raises:
        Hdf5Error: (a ValueError) naming `label` and the object refused, or why libhdf5 failed.
    """
    if not hasattr(os, "fork"):
        tree, arrays = _walk(source, label)
        return _decode(b"".join(_encode(tree, arrays)), label)
    size = len(source) if isinstance(source, bytes) else os.path.getsize(source)
    read_end, write_end = os.pipe()
    try:
        pid = _fork(label)
    except BaseException:
        os.close(read_end)
        os.close(write_end)
        raise
    if pid == 0:  # the worker: read, send, and leave without running any of the parent's clean-up
        status = 0
        try:
            os.close(read_end)
            _limit_memory(MEMORY_FLOOR + MEMORY_PER_BYTE * size)
            try:
                parts = list(_encode(*_walk(source, label)))
                tag = b"K"
            except BaseException as err:  # noqa: BLE001 - every failure goes back to the parent as text
                text = str(err) if isinstance(err, Hdf5Error) else \
                    f"reading it needs more memory than the {(MEMORY_FLOOR + MEMORY_PER_BYTE * size) >> 20:,} MB " \
                    "allowed for a file of its size (MemoryError)" if isinstance(err, MemoryError) else \
                    f"libhdf5 failed reading it ({type(err).__name__}: {err})"
                parts, tag = [text[:2000].encode("utf-8", "replace")], b"E"
            with os.fdopen(write_end, "wb") as out:
                out.write(tag)
                for part in parts:
                    out.write(part)
        except BaseException:  # noqa: BLE001
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        payload = _receive(read_end, seconds_for(size), pid, label)
    finally:
        os.close(read_end)
    if payload[:1] == b"E":
        message = payload[1:].decode("utf-8", "replace")
        raise Hdf5Error(message if label in message else f"{label}: {message}")
    if payload[:1] != b"K":
        raise Hdf5Error(f"{label}: libhdf5 failed reading it (the reading process ended without an answer)")
    return _decode(payload[1:], label)


_forking = threading.Lock()
FORK_TRIES = 100  # a fork refused for a moment is tried again, this many times in all,
FORK_PAUSE = 0.01  # this many seconds apart


def _fork(label: str) -> int:
    """`os.fork()`, one thread at a time. Another library may refuse a fork for a moment: an
    audit hook of filelock (which torch imports) raises RuntimeError while any thread is
    changing a lock's descriptors, another thread's fork included (seen on Python 3.12 with
    threads loading files at once). Such a fork is tried again, `FORK_TRIES` times in all."""
    for attempt in range(FORK_TRIES):
        try:
            with _forking, warnings.catch_warnings():
                # Python 3.12+ warns of fork() with threads; the worker runs no thread
                warnings.simplefilter("ignore", DeprecationWarning)
                return os.fork()
        except RuntimeError as err:
            if attempt == FORK_TRIES - 1:
                raise Hdf5Error(f"{label}: the process that reads it could not be started: {err} "
                                f"({FORK_TRIES} tries); the file was not read") from None
            time.sleep(FORK_PAUSE)
    raise AssertionError("unreachable")


def _limit_memory(extra: int) -> None:
    if resource is None:
        return
    try:
        with open("/proc/self/status") as f:
            used = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (used + extra, resource.RLIM_INFINITY))
    except (OSError, ValueError, StopIteration):
        pass  # no /proc (macOS): the time limit alone


def _receive(fd: int, seconds: float, pid: int, label: str) -> bytes:
    """Everything the worker writes, within `seconds`; a worker past them is killed."""
    deadline, chunks = time.monotonic() + seconds, []
    while True:
        left = deadline - time.monotonic()
        ready = select.select([fd], [], [], max(left, 0))[0] if left > 0 else []
        if not ready:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise Hdf5Error(f"{label}: reading it took more than {seconds:.1f} s, far beyond what a file of its size "
                            "needs (a damaged file can make libhdf5 loop); refused")
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        raise Hdf5Error(f"{label}: libhdf5 crashed reading it (signal {os.WTERMSIG(status)}); refused")
    return b"".join(chunks)
