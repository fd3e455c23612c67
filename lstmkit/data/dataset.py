"""`Dataset`: a lazy sequence of elements, each a tensor, a StringTensor or a tuple / dict of
them, described by its source and the steps applied to it (TensorFlow's `tf.data.Dataset`).

Nothing is read or computed until the dataset is iterated, and each iteration reads its source
again from the start, one element at a time: a pipeline over a file or generator larger than
memory never holds more than its buffers (`shuffle`'s, `window`'s, one batch). Only `cache()`
keeps what it has seen.

    >>> ds = Dataset.range(10).window(4, shift=2, drop_remainder=True).flat_map(lambda w: w.batch(4))
    >>> [w.tolist() for w in ds.as_numpy_iterator()]
    [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9]]
    >>> x = Dataset.from_tensor_slices(([1.0, 2.0, 3.0], [0, 1, 0])).shuffle(3, seed=1).batch(2)
    >>> [tuple(t.shape) for t in next(iter(x))], int(x.cardinality())
    ([(2,), (2,)], 2)
"""

from __future__ import annotations

import collections
import gzip
import itertools
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch

from .._checks import positive_int
from .strings import StringTensor, as_leaf, flatten, map_structure, zip_structures

AUTOTUNE = -1
_END = object()  # what next() gives at the end of an iterator
INFINITE = -1  # cardinality of a dataset that never ends
UNKNOWN = -2  # cardinality that cannot be known without reading (filter, from_generator, ...)

class _GlobalSeed:
    """tf.random.set_seed's seed, and how many shuffles drew from it since."""

    seed: int | None = None
    ops = 0


def set_global_seed(seed: int | None) -> None:
    """The seed shuffles without a `seed=` of their own derive theirs from (`tf.random.set_seed`)."""
    _GlobalSeed.seed, _GlobalSeed.ops = (None if seed is None else int(seed)), 0


def _op_seed(seed: int | None) -> list[int] | None:
    """A shuffle's seed: its own, or one derived from the global seed and how many shuffles were
    made since it was set (as TensorFlow derives op seeds); None: fresh randomness."""
    if seed is not None:
        return [int(seed)]
    if _GlobalSeed.seed is None:
        return None
    _GlobalSeed.ops += 1
    return [_GlobalSeed.seed, _GlobalSeed.ops]


@dataclass(frozen=True)
class TensorSpec:
    """The shape (None where it varies) and dtype of one component of a dataset's elements."""

    shape: tuple[int | None, ...]
    dtype: Any = torch.float32
    name: str | None = None

    def __init__(self, shape: Any = (), dtype: Any = torch.float32, name: str | None = None) -> None:
        object.__setattr__(self, "shape", tuple(None if d is None else int(d) for d in (shape or ())))
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "name", name)

    @staticmethod
    def of(value: Any) -> "TensorSpec":
        return TensorSpec(tuple(value.shape), value.dtype)

    def unbatched(self) -> "TensorSpec":
        return TensorSpec(self.shape[1:], self.dtype, self.name)


def _count(value: Any, argument: str) -> int:
    if isinstance(value, torch.Tensor):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"Expected an integer for {argument}, got {argument}={value!r}")
    return int(value)


def _call(fn: Callable[..., Any], element: Any) -> Any:
    """`fn` of an element, as tf.data calls it: a tuple's parts as separate arguments."""
    return fn(*element) if isinstance(element, tuple) else fn(element)


def _output(value: Any) -> Any:
    """A function's result as an element: lists become tuples (as in tf.data), values leaves."""
    if isinstance(value, list) and value and all(isinstance(v, (torch.Tensor, np.ndarray, dict, tuple)) for v in value):
        value = tuple(value)
    if isinstance(value, Dataset):
        return value
    return map_structure(lambda v: v if isinstance(v, Dataset) else as_leaf(v), value)


def _stack(leaves: list[Any]) -> Any:
    first = leaves[0]
    if isinstance(first, Dataset):
        raise TypeError("A window of a window cannot be batched directly: flat_map the inner windows to batches first")
    shapes = {tuple(leaf.shape) for leaf in leaves}
    if len(shapes) > 1:
        raise ValueError(
            f"Cannot batch elements of different shapes {sorted(shapes)[:4]}: use padded_batch (pads each to the "
            "longest), or map them to one shape first")
    if isinstance(first, StringTensor):
        return np.stack([leaf.view(np.ndarray) for leaf in leaves]).view(StringTensor)
    return torch.stack(leaves)


def _pad_to(leaf: Any, shape: tuple[int, ...], value: Any) -> Any:
    if isinstance(leaf, StringTensor):
        text = np.full(shape, value if value is not None else b"", dtype=object)
        text[tuple(slice(0, n) for n in leaf.shape)] = leaf.view(np.ndarray)
        return text.view(StringTensor)
    out = torch.full(shape, 0 if value is None else value, dtype=leaf.dtype)
    out[tuple(slice(0, n) for n in leaf.shape)] = leaf
    return out


class Dataset:
    """A lazy, re-iterable sequence of elements (see the module's description).

    Build one with `from_tensor_slices`, `from_tensors`, `from_generator`, `range`, `zip` or
    `TextLineDataset`; each method returns a new Dataset and leaves this one as it is.
    """

    def __init__(self, make: Callable[[], Iterator[Any]], length: int = UNKNOWN, spec: Any = None) -> None:
        self._make = make  # a new iterator over the elements, from the start
        self._length = length  # known count, INFINITE or UNKNOWN
        self._spec = spec

    # ---- sources -------------------------------------------------------------------------------

    @staticmethod
    def from_tensor_slices(tensors: Any, name: str | None = None) -> "Dataset":
        """One element per row (first axis) of `tensors`, a value or a tuple / dict of values
        with the same number of rows."""
        values = map_structure(as_leaf, tensors)
        leaves = flatten(values)
        if any(leaf.dim() == 0 if isinstance(leaf, torch.Tensor) else leaf.ndim == 0 for leaf in leaves):
            raise ValueError("from_tensor_slices needs values with at least one axis to slice; got a scalar "
                             "(use from_tensors for a single element)")
        rows = {int(leaf.shape[0]) for leaf in leaves}
        if len(rows) > 1:
            raise ValueError(f"from_tensor_slices needs every component to have the same number of rows, got "
                             f"{sorted(rows)}")
        n = rows.pop()

        def make() -> Iterator[Any]:
            for i in range(n):
                yield map_structure(lambda leaf: leaf[i, ...], values)
        return Dataset(make, n, map_structure(lambda leaf: TensorSpec.of(leaf).unbatched(), values))

    @staticmethod
    def from_tensors(tensors: Any, name: str | None = None) -> "Dataset":
        """A dataset of one element, `tensors` itself."""
        values = map_structure(as_leaf, tensors)
        return Dataset(lambda: iter([values]), 1, map_structure(TensorSpec.of, values))

    @staticmethod
    def _of_list(elements: list[Any]) -> "Dataset":
        return Dataset(lambda: iter(elements), len(elements))

    @staticmethod
    def from_generator(generator: Callable[..., Iterable[Any]], output_types: Any = None, output_shapes: Any = None,
                       args: Any = None, output_signature: Any = None, name: str | None = None) -> "Dataset":
        """The elements a generator function yields, called anew for each iteration (with `args`).
        `output_signature` (TensorSpecs) or `output_types` give the dtypes they are converted to."""
        if not callable(generator):
            raise TypeError(f"from_generator takes a generator function (called for each pass), got "
                            f"generator={generator!r:.80}")
        dtypes = (map_structure(lambda s: s.dtype, output_signature) if output_signature is not None
                  else output_types)
        call_args = tuple(args) if args is not None else ()

        def convert(value: Any, types: Any) -> Any:
            if isinstance(types, tuple):
                if not isinstance(value, (tuple, list)) or len(value) != len(types):
                    raise ValueError(f"from_generator: the generator yielded {value!r:.100}, which does not match "
                                     f"the declared output of {len(types)} parts")
                return tuple(convert(v, t) for v, t in zip(value, types))
            if isinstance(types, dict):
                return {k: convert(value[k], t) for k, t in types.items()}
            return as_leaf(value, types)

        def make() -> Iterator[Any]:
            for value in generator(*call_args):
                yield convert(value, dtypes) if dtypes is not None else _output(value)
        return Dataset(make, UNKNOWN, output_signature)

    @staticmethod
    def range(*args: int, dtype: Any = torch.int64, name: str | None = None) -> "Dataset":
        """`range(stop)`, `range(start, stop[, step])`: like Python's, as int64 scalars."""
        bounds = range(*[_count(a, "range") for a in args])
        return Dataset(lambda: (torch.tensor(i, dtype=dtype) for i in bounds), len(bounds), TensorSpec((), dtype))

    @staticmethod
    def zip(*datasets: Any, name: str | None = None) -> "Dataset":
        """Elements of several datasets side by side, as a tuple (`zip((a, b))` or `zip(a, b)`) or
        a dict; it ends with the shortest."""
        structure = datasets[0] if len(datasets) == 1 and not isinstance(datasets[0], Dataset) else datasets
        parts = flatten(structure)
        if not parts or not all(isinstance(d, Dataset) for d in parts):
            raise TypeError(f"Dataset.zip takes datasets (or a tuple / dict of them), got {datasets!r:.200}")

        def make() -> Iterator[Any]:
            iterators = map_structure(iter, structure)
            while True:
                try:
                    yield map_structure(next, iterators)
                except StopIteration:
                    return
        lengths = [d._length for d in parts]
        known = [n for n in lengths if n >= 0]
        length = min(known) if known else (INFINITE if all(n == INFINITE for n in lengths) else UNKNOWN)
        if known and UNKNOWN in lengths:
            length = UNKNOWN
        return Dataset(make, length)

    # ---- transformations -----------------------------------------------------------------------

    def map(self, map_func: Callable[..., Any], num_parallel_calls: int | None = None, deterministic: bool | None = None,
            name: str | None = None) -> "Dataset":
        """`map_func` of each element (a tuple's parts as separate arguments). `num_parallel_calls`
        is accepted and the calls run one after the other, in order."""
        if not callable(map_func):
            raise TypeError(f"map takes a function, got map_func={map_func!r:.80}")
        return Dataset(lambda: (_output(_call(map_func, e)) for e in self._make()), self._length)

    def filter(self, predicate: Callable[..., Any], name: str | None = None) -> "Dataset":
        """The elements for which `predicate` is true (a bool or a boolean scalar tensor)."""
        def keep(element: Any) -> bool:
            verdict = _call(predicate, element)
            if isinstance(verdict, torch.Tensor):
                if verdict.numel() != 1:
                    raise ValueError(f"filter's predicate must return one boolean, got a tensor of shape "
                                     f"{tuple(verdict.shape)}")
                return bool(verdict.item())
            return bool(verdict)
        return Dataset(lambda: (e for e in self._make() if keep(e)), UNKNOWN if self._length != INFINITE else INFINITE)

    def flat_map(self, map_func: Callable[..., "Dataset"], name: str | None = None) -> "Dataset":
        """The elements of the datasets `map_func` makes of each element, one after the other."""
        def make() -> Iterator[Any]:
            for element in self._make():
                inner = _call(map_func, element)
                if not isinstance(inner, Dataset):
                    raise TypeError(f"flat_map's function must return a Dataset, got {type(inner).__name__}")
                yield from inner
        return Dataset(make, UNKNOWN)

    def interleave(self, map_func: Callable[..., "Dataset"], cycle_length: int | None = None, block_length: int = 1,
                   num_parallel_calls: int | None = None, deterministic: bool | None = None,
                   name: str | None = None) -> "Dataset":
        """`flat_map` reading `cycle_length` inner datasets in turn, `block_length` elements each,
        in TensorFlow's order: a slot whose dataset ends passes the turn on, and an empty slot is
        filled with the next element's dataset when its turn comes."""
        cycle = os.cpu_count() or 1 if cycle_length in (None, AUTOTUNE) else positive_int("cycle_length", cycle_length)
        block = positive_int("block_length", block_length)

        def make() -> Iterator[Any]:
            outer = self._make()
            slots: list[Iterator[Any] | None] = [None] * cycle
            turn = taken = 0  # whose turn it is, and how much of its block it has given
            while True:
                it = slots[turn]
                if it is None:
                    element = next(outer, _END)
                    if element is not _END:
                        slots[turn] = iter(_call(map_func, element))
                        continue
                    if all(slot is None for slot in slots):
                        return
                else:
                    item = next(it, _END)
                    if item is not _END:
                        yield item
                        taken += 1
                        if taken < block:
                            continue
                    else:
                        slots[turn] = None
                turn, taken = (turn + 1) % cycle, 0
        return Dataset(make, UNKNOWN)

    def batch(self, batch_size: int, drop_remainder: bool = False, num_parallel_calls: int | None = None,
              deterministic: bool | None = None, name: str | None = None) -> "Dataset":
        """Consecutive elements stacked along a new first axis, `batch_size` at a time (the last
        batch smaller unless `drop_remainder`)."""
        size = positive_int("batch_size", _count(batch_size, "batch_size"))

        def make() -> Iterator[Any]:
            it = self._make()
            while True:
                chunk = list(itertools.islice(it, size))
                if not chunk or (drop_remainder and len(chunk) < size):
                    return
                yield zip_structures(_stack, chunk)
        return Dataset(make, self._batched_length(size, drop_remainder))

    def _batched_length(self, size: int, drop_remainder: bool) -> int:
        if self._length < 0:
            return self._length
        return self._length // size if drop_remainder else math.ceil(self._length / size)

    def padded_batch(self, batch_size: int, padded_shapes: Any = None, padding_values: Any = None,
                     drop_remainder: bool = False, name: str | None = None) -> "Dataset":
        """`batch` of elements of different shapes: each padded (at the end of each axis) to
        `padded_shapes` (None or -1 in it: the longest in the batch), with `padding_values`
        (default 0, or b"" for text)."""
        size = positive_int("batch_size", _count(batch_size, "batch_size"))

        def pad(leaves: list[Any], shape: Any, value: Any) -> Any:
            longest = [max(int(leaf.shape[d]) for leaf in leaves) for d in range(leaves[0].dim() if isinstance(leaves[0], torch.Tensor) else leaves[0].ndim)]
            if shape is not None:
                shape = list(shape)
                if len(shape) != len(longest):
                    raise ValueError(f"padded_shapes entry {shape} does not have the rank of the elements, shape "
                                     f"{tuple(leaves[0].shape)}")
                for d, want in enumerate(shape):
                    if want is not None and want != -1:
                        if int(want) < longest[d]:
                            raise ValueError(f"An element of shape {longest} is longer than padded_shapes {shape}")
                        longest[d] = int(want)
            if isinstance(value, torch.Tensor):
                value = value.item()
            return _stack([_pad_to(leaf, tuple(longest), value) for leaf in leaves])

        def make() -> Iterator[Any]:
            it = self._make()
            while True:
                chunk = list(itertools.islice(it, size))
                if not chunk or (drop_remainder and len(chunk) < size):
                    return
                yield _zip_with(pad, chunk, padded_shapes, padding_values)
        return Dataset(make, self._batched_length(size, drop_remainder))

    def unbatch(self, name: str | None = None) -> "Dataset":
        """The rows of each element as elements of their own (the inverse of `batch`)."""
        def make() -> Iterator[Any]:
            for element in self._make():
                rows = {int(leaf.shape[0]) for leaf in flatten(element)}
                if len(rows) != 1:
                    raise ValueError(f"unbatch needs every component to have the same first axis, got {sorted(rows)}")
                for i in range(rows.pop()):
                    yield map_structure(lambda leaf: leaf[i, ...], element)
        return Dataset(make, UNKNOWN if self._length != INFINITE else INFINITE)

    def rebatch(self, batch_size: int, drop_remainder: bool = False, name: str | None = None) -> "Dataset":
        """The same elements in batches of `batch_size` (the input's batches unbatched first)."""
        return self.unbatch().batch(batch_size, drop_remainder)

    def shuffle(self, buffer_size: int, seed: int | None = None, reshuffle_each_iteration: bool = True,
                name: str | None = None) -> "Dataset":
        """Elements drawn at random from a buffer of the next `buffer_size` ones (a buffer as
        large as the dataset shuffles it uniformly). A new order each iteration unless
        `reshuffle_each_iteration=False`; `seed` (or `tf.random.set_seed`) makes it repeatable."""
        size = positive_int("buffer_size", _count(buffer_size, "buffer_size")) if buffer_size != AUTOTUNE else 1000
        base = _op_seed(seed)
        fresh = np.random.SeedSequence().entropy if base is None else None
        passes = itertools.count()

        def make() -> Iterator[Any]:
            n = next(passes) if reshuffle_each_iteration else 0
            root = base if base is not None else [int(fresh)]  # type: ignore[arg-type]
            rng = np.random.default_rng([*root, n])
            it, buffer = self._make(), []
            for element in it:
                buffer.append(element)
                if len(buffer) >= size:
                    break
            for element in it:
                i = int(rng.integers(len(buffer)))
                yield buffer[i]
                buffer[i] = element
            while buffer:
                i = int(rng.integers(len(buffer)))
                buffer[i], buffer[-1] = buffer[-1], buffer[i]
                yield buffer.pop()
        return Dataset(make, self._length, self._spec)

    def window(self, size: int, shift: int | None = None, stride: int = 1, drop_remainder: bool = False,
               name: str | None = None) -> "Dataset":
        """Windows of `size` elements, one starting every `shift` elements (default `size`),
        taking every `stride`-th element. Each window is a Dataset (a tuple / dict of Datasets for
        structured elements): `ds.window(5).flat_map(lambda w: w.batch(5))` gives tensors."""
        size = positive_int("size", _count(size, "size"))
        shift = size if shift is None else positive_int("shift", _count(shift, "shift"))
        stride = positive_int("stride", _count(stride, "stride"))
        span = (size - 1) * stride + 1

        def split(elements: list[Any]) -> Any:
            return zip_structures(Dataset._of_list, elements)

        def make() -> Iterator[Any]:
            it = self._make()
            buffer: collections.deque[Any] = collections.deque()
            while True:
                buffer.extend(itertools.islice(it, span - len(buffer)))  # short only where the input ended
                if not buffer:
                    return
                window = [buffer[i] for i in range(0, min(span, len(buffer)), stride)]
                if len(window) < size and drop_remainder:
                    return
                yield split(window)
                dropped = min(shift, len(buffer))
                for _ in range(dropped):
                    buffer.popleft()
                collections.deque(itertools.islice(it, shift - dropped), maxlen=0)  # a shift past the buffer skips on
        length = UNKNOWN
        if self._length >= 0:
            n = self._length
            length = (max(0, (n - span) // shift + 1) if drop_remainder else math.ceil(n / shift))
        elif self._length == INFINITE:
            length = INFINITE
        return Dataset(make, length)

    def take(self, count: int, name: str | None = None) -> "Dataset":
        """The first `count` elements (all of them for -1)."""
        count = _count(count, "count")
        if count < 0:
            return self
        length = min(count, self._length) if self._length >= 0 else count if self._length == INFINITE else UNKNOWN
        return Dataset(lambda: itertools.islice(self._make(), count), length, self._spec)

    def skip(self, count: int, name: str | None = None) -> "Dataset":
        """All but the first `count` elements (none for -1)."""
        count = _count(count, "count")
        if count < 0:
            return Dataset(lambda: iter(()), 0, self._spec)
        length = max(0, self._length - count) if self._length >= 0 else self._length
        return Dataset(lambda: itertools.islice(self._make(), count, None), length, self._spec)

    def repeat(self, count: int | None = None, name: str | None = None) -> "Dataset":
        """The elements `count` times over (forever for None or -1)."""
        count = -1 if count is None else _count(count, "count")

        def make() -> Iterator[Any]:
            passes = itertools.count() if count < 0 else range(count)
            for _ in passes:
                produced = False
                for element in self._make():
                    produced = True
                    yield element
                if not produced:
                    return
        if count < 0:
            length = 0 if self._length == 0 else INFINITE
        else:
            length = self._length * count if self._length >= 0 else self._length
        return Dataset(make, length, self._spec)

    def concatenate(self, dataset: "Dataset", name: str | None = None) -> "Dataset":
        """This dataset's elements, then those of `dataset` (of the same structure)."""
        if not isinstance(dataset, Dataset):
            raise TypeError(f"concatenate takes a Dataset, got {type(dataset).__name__}")
        lengths = (self._length, dataset._length)
        length = (sum(lengths) if min(lengths) >= 0 else INFINITE if INFINITE in lengths else UNKNOWN)
        return Dataset(lambda: itertools.chain(self._make(), dataset._make()), length, self._spec)

    def enumerate(self, start: int = 0, name: str | None = None) -> "Dataset":
        """`(index, element)` pairs, the index an int64 scalar counting from `start`."""
        return Dataset(lambda: ((torch.tensor(i, dtype=torch.int64), e)
                                for i, e in enumerate(self._make(), _count(start, "start"))), self._length)

    def cache(self, filename: str = "", name: str | None = None) -> "Dataset":
        """Keeps the elements of the first complete iteration in memory and replays them after
        (`filename` is accepted; the cache is kept in memory all the same)."""
        kept: list[Any] = []
        complete = [False]

        def make() -> Iterator[Any]:
            if complete[0]:
                yield from kept
                return
            seen = []
            for element in self._make():
                seen.append(element)
                yield element
            kept[:] = seen
            complete[0] = True
        return Dataset(make, self._length, self._spec)

    def prefetch(self, buffer_size: int, name: str | None = None) -> "Dataset":
        """Accepted for TensorFlow programs: elements are computed as they are asked for."""
        return self

    def with_options(self, options: Any, name: str | None = None) -> "Dataset":
        """Accepted for TensorFlow compatibility: the options are kept and change nothing."""
        return self

    def options(self) -> Any:
        """The options given with `with_options` (they change nothing here)."""
        from types import SimpleNamespace
        return SimpleNamespace(experimental_deterministic=True)

    def shard(self, num_shards: int, index: int, name: str | None = None) -> "Dataset":
        """Every `num_shards`-th element, starting at `index`."""
        shards = positive_int("num_shards", _count(num_shards, "num_shards"))
        index = _count(index, "index")
        if not 0 <= index < shards:
            raise ValueError(f"shard index must be in [0, {shards}), got index={index}")
        length = len(range(index, self._length, shards)) if self._length >= 0 else self._length
        return Dataset(lambda: itertools.islice(self._make(), index, None, shards), length, self._spec)

    def apply(self, transformation_func: Callable[["Dataset"], "Dataset"]) -> "Dataset":
        """`transformation_func(self)`: a transformation written as a function of a dataset."""
        return transformation_func(self)

    def reduce(self, initial_state: Any, reduce_func: Callable[[Any, Any], Any], name: str | None = None) -> Any:
        """Folds the elements into one value: `state = reduce_func(state, element)`."""
        state = _output(initial_state)
        for element in self._make():
            state = _output(reduce_func(state, element))
        return state

    def unique(self, name: str | None = None) -> "Dataset":
        """Each distinct element once, in the order first seen."""
        def make() -> Iterator[Any]:
            seen = set()
            for element in self._make():
                key = element.numpy()[()] if isinstance(element, (torch.Tensor, StringTensor)) else None
                if key is None or getattr(key, "shape", ()) != ():
                    raise TypeError("unique works on datasets of scalars")
                if key not in seen:
                    seen.add(key)
                    yield element
        return Dataset(make, UNKNOWN)

    def get_single_element(self, name: str | None = None) -> Any:
        """The one element of a dataset of exactly one element; a ValueError otherwise."""
        elements = list(itertools.islice(self._make(), 2))
        if len(elements) != 1:
            raise ValueError(f"get_single_element needs a dataset of exactly one element, this one has "
                             f"{'none' if not elements else 'more than one'}")
        return elements[0]

    # ---- reading ---------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Any]:
        return self._make()

    def as_numpy_iterator(self) -> Iterator[Any]:
        """The elements with NumPy arrays (and `bytes` for scalar text) in place of tensors."""
        return (map_structure(_to_numpy, e) for e in self._make())

    def as_numpy(self) -> list[Any]:
        """Every element as NumPy values, in a list."""
        return list(self.as_numpy_iterator())

    def cardinality(self) -> torch.Tensor:
        """The number of elements as an int64 scalar: -1 (`INFINITE`) for a repeated dataset, -2
        (`UNKNOWN`) where it cannot be known without reading (after `filter`, `from_generator`)."""
        return torch.tensor(self._length, dtype=torch.int64)

    def __len__(self) -> int:
        if self._length == INFINITE:
            raise TypeError("The dataset is infinite (repeat()): it has no length")
        if self._length == UNKNOWN:
            raise TypeError("The dataset's length is unknown (after filter, flat_map or from_generator); "
                            "count it with ds.reduce(0, lambda n, _: n + 1)")
        return self._length

    def __bool__(self) -> bool:
        return True

    @property
    def element_spec(self) -> Any:
        """The shape and dtype of the elements' components (`TensorSpec`s), read from the first
        element when the source does not declare them; a batch axis is None."""
        if self._spec is None:
            first = next(iter(self._make()), None)
            if first is None:
                raise ValueError("element_spec of an empty dataset cannot be read from its elements")
            self._spec = map_structure(lambda leaf: TensorSpec((None, *leaf.shape[1:]) if leaf.shape else (), leaf.dtype)
                                       if not isinstance(leaf, Dataset) else leaf, first)
        return self._spec

    def __repr__(self) -> str:
        length = {INFINITE: "infinite", UNKNOWN: "unknown"}.get(self._length, str(self._length))
        return f"<Dataset elements={length}>"

    def take_while(self, predicate: Callable[..., Any], name: str | None = None) -> "Dataset":
        """The elements up to the first for which `predicate` is false."""
        return Dataset(lambda: itertools.takewhile(lambda e: bool(_call(predicate, e)), self._make()), UNKNOWN)


def _zip_with(fn: Callable[[list[Any], Any, Any], Any], chunk: list[Any], shapes: Any, values: Any) -> Any:
    first = chunk[0]
    if isinstance(first, tuple):
        return tuple(_zip_with(fn, [e[i] for e in chunk], _part(shapes, i), _part(values, i)) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: _zip_with(fn, [e[k] for e in chunk], _part(shapes, k), _part(values, k)) for k in first}
    return fn(chunk, shapes, values)


def _part(value: Any, key: Any) -> Any:
    if isinstance(value, (tuple, dict)):
        return value[key]
    return value


def _to_numpy(leaf: Any) -> Any:
    if isinstance(leaf, StringTensor):
        return leaf.numpy()
    if isinstance(leaf, torch.Tensor):
        array = leaf.detach().cpu().numpy()
        return array[()] if array.ndim == 0 else array
    return leaf


class TextLineDataset(Dataset):
    """The lines of one or more text files (without their line endings) as scalar text elements,
    read as they are asked for. `compression_type`: None, "" or "GZIP"."""

    def __init__(self, filenames: Any, compression_type: str | None = None, buffer_size: int | None = None,
                 num_parallel_reads: int | None = None, name: str | None = None) -> None:
        if isinstance(filenames, (str, bytes, os.PathLike)):
            names = [filenames]
        elif isinstance(filenames, StringTensor):
            names = list(filenames.reshape(-1))
        else:
            names = list(filenames)
        paths = [os.fsdecode(n) if not isinstance(n, StringTensor) else n.numpy().decode() for n in names]
        kind = (compression_type or "").upper()
        if kind not in ("", "GZIP", "NONE"):
            raise ValueError(f"compression_type must be None, '' or 'GZIP', got compression_type={compression_type!r}")
        for path in paths:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"TextLineDataset: no file {path!r}")

        def make() -> Iterator[Any]:
            for path in paths:
                opener = gzip.open if kind == "GZIP" else open
                with opener(path, "rb") as f:
                    for line in f:
                        yield StringTensor.of(line.rstrip(b"\n").rstrip(b"\r"))
        super().__init__(make, UNKNOWN)
