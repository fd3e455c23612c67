"""What `fit`, `evaluate` and `predict` accept as data, turned into batches of tensors.

Two kinds of source:
- arrays: `x`, `y` and `sample_weight` as numpy arrays, torch tensors or nested lists, all with
  the same number of samples; batched here, reshuffled every epoch when asked;
- batch sources: a `torch.utils.data.Dataset` of `(x, y)` or `(x, y, sample_weight)` items (batched
  here with a `DataLoader`), or a `DataLoader` / any re-iterable of such batches, used as it is;
  also Keras's kinds: an `lstmkit.data.Dataset` (`tf.data.Dataset`) of batches, a Python generator of batches (read on from epoch to epoch) and a
  `Sequence` (batch i is `seq[i]`; `seq.on_epoch_end()` after each pass).

A model may have several inputs and outputs: `x` is then a list (in the model's input order) or
a dict by input name, and `y` and `sample_weight` the same by output. Inside, each is a list of
tensors, one per input or output (`structure`), and a batch is `(xs, ys, sample_weights)` with
`ys` and `sample_weights` possibly None (and single weights None within `sample_weights`).
"""

from __future__ import annotations

import collections.abc
import hashlib
import math
import numbers
from typing import Any, Iterable, Iterator, Mapping, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Subset, default_collate
from torch.utils.data.distributed import DistributedSampler

from .. import data as pipelines
from ..data.strings import StringTensor
from ..distributed import shard_order
from ..layers.base import to_tensor
from .keras_sequence import SequencePasses, is_sequence

Batch = tuple[Any, Any, Any]


def is_torch_data(x: Any) -> bool:
    """Whether `x` is a source of batches (a torch Dataset or DataLoader, a generator or other
    iterator of batches, a Keras-style Sequence) rather than arrays."""
    if isinstance(x, (Dataset, DataLoader, collections.abc.Iterator, pipelines.Dataset)):
        return True
    return not isinstance(x, (list, tuple, dict, str, bytes)) and not hasattr(x, "__array__") and is_sequence(x)


Tensors = list[torch.Tensor]


def _pick(tensors: list[Any] | None, index: Any) -> Any:
    return None if tensors is None else [None if t is None else t[_numpy_index(index)] if isinstance(t, StringTensor)
                                         else t[index] for t in tensors]


def _numpy_index(index: Any) -> Any:
    return index.cpu().numpy() if isinstance(index, torch.Tensor) else index


class ArrayData:
    """In-memory samples, cut into batches of `batch_size` (the last one may be smaller).

    `x`: one tensor per model input; `y`: one per output (or None); `sample_weight`: one per
    output, each possibly None (or None for all)."""

    def __init__(self, x: list[Any], y: Tensors | None, sample_weight: list[torch.Tensor | None] | None) -> None:
        self.x, self.y, self.sample_weight = x, y, sample_weight

    def __len__(self) -> int:
        return int(self.x[0].shape[0])

    def steps(self, batch_size: int) -> int:
        return math.ceil(len(self) / batch_size)

    def fingerprint(self) -> str:
        """A short hash of the arrays' shapes, dtypes and up to 64 evenly spaced samples: cheap on
        any size, and another data set (or the same one reordered) almost surely hashes otherwise."""
        h = hashlib.sha256()
        rows = torch.linspace(0, len(self) - 1, min(len(self), 64)).round().long()
        tensors: list[torch.Tensor | None] = list(self.x)
        tensors += self.y if self.y is not None else [None]
        tensors += self.sample_weight if self.sample_weight is not None else [None]
        for t in tensors:
            if t is None:
                h.update(b"none")
                continue
            h.update(f"{tuple(t.shape)} {t.dtype}".encode())
            if isinstance(t, StringTensor):
                h.update(b"\0".join(t[rows.numpy()].reshape(-1).tolist()))
                continue
            h.update(t[rows].detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    def batches(self, batch_size: int, order: torch.Tensor | None = None) -> Iterator[Batch]:
        """Batches of the samples in `order` (indices; default: all, in their order)."""
        n = len(self) if order is None else int(order.shape[0])
        for start in range(0, n, batch_size):
            index: Any = slice(start, start + batch_size) if order is None else order[start : start + batch_size]
            yield _pick(self.x, index), _pick(self.y, index), _pick(self.sample_weight, index)

    def take(self, index: torch.Tensor | slice) -> "ArrayData":
        """The samples at `index` (indices, or a slice: a view), as their own data."""
        return ArrayData(_pick(self.x, index), _pick(self.y, index), _pick(self.sample_weight, index))

    def split(self, validation_split: float) -> tuple["ArrayData", "ArrayData"]:
        """Keras's `validation_split`: the last fraction of the samples (taken before any shuffling)."""
        cut = int(len(self) * (1.0 - validation_split))
        if cut <= 0 or cut >= len(self):
            raise ValueError(
                f"validation_split={validation_split} leaves no samples on one side of the split "
                f"of {len(self)} samples"
            )

        return self.take(slice(0, cut)), self.take(slice(cut, None))


class TorchData:
    """A `DataLoader` (or any re-iterable of batches), or a `Dataset` batched by a `DataLoader` here."""

    def __init__(self, source: Any) -> None:
        self.source: Any = SequencePasses(source) if is_sequence(source) and not isinstance(source, Dataset) else source

    @property
    def indexable(self) -> bool:
        """A map-style Dataset of known length: lstmkit orders, shuffles and shards its samples.
        Anything else (a DataLoader, an IterableDataset, a generator) is read as it comes."""
        return (isinstance(self.source, Dataset) and not isinstance(self.source, IterableDataset)
                and hasattr(self.source, "__len__"))

    def __len__(self) -> int:
        if not self.indexable:
            raise TypeError("Only a map-style Dataset has a known number of samples")
        return len(self.source)  # type: ignore[arg-type]

    def steps(self, batch_size: int) -> int | None:
        if self.indexable:
            return math.ceil(len(self) / batch_size)
        loader = self._loader(batch_size)
        try:
            return len(loader)  # type: ignore[arg-type]
        except TypeError:  # an iterable dataset, or a generator of batches, has no length
            return None

    def take(self, index: torch.Tensor) -> "TorchData":
        """The samples at `index` of a map-style Dataset, as their own data."""
        return TorchData(Subset(self.source, index.tolist()))

    def _loader(self, batch_size: int) -> Iterable[Any]:
        if isinstance(self.source, Dataset):  # an IterableDataset
            return DataLoader(self.source, batch_size=batch_size)
        return self.source

    def _indexed(self, batch_size: int, order: torch.Tensor | None) -> Iterator[Any]:
        """A map-style Dataset's samples in `order`, stacked into batches as a DataLoader would
        (its default collation), without a DataLoader: no worker processes, no random draws."""
        n = len(self)
        order = torch.arange(n) if order is None else order
        for start in range(0, int(order.shape[0]), batch_size):
            yield default_collate([self.source[int(i)] for i in order[start : start + batch_size]])

    @property
    def distributed_sampler(self) -> DistributedSampler[Any] | None:
        """The DistributedSampler of a user's DataLoader, if it has one (its epoch is set per pass)."""
        sampler = getattr(self.source, "sampler", None)
        return sampler if isinstance(sampler, DistributedSampler) else None

    def items(self, batch_size: int, order: torch.Tensor | None = None) -> Iterable[Any]:
        """The batches as the source gives them, unchecked (or the Dataset's samples in `order`)."""
        return self._indexed(batch_size, order) if self.indexable else self._loader(batch_size)

    def batches(self, batch_size: int, order: torch.Tensor | None = None) -> Iterator[Batch]:
        """Batches from the loader, or of the Dataset's samples in `order` (default: their order)."""
        for index, batch in enumerate(self.items(batch_size, order)):
            if isinstance(batch, Mapping) or not isinstance(batch, (tuple, list)) or not 1 <= len(batch) <= 3:
                raise ValueError(
                    f"Batch {index} from the data loader is {type(batch).__name__}; expected a tuple "
                    "(x, y) or (x, y, sample_weight)"
                )
            x, y, sample_weight = (*batch, None, None)[:3]
            yield x, y, sample_weight


def _length(value: Any) -> int:
    return int(value.shape[0]) if hasattr(value, "shape") and len(value.shape) else len(value)


def _is_array(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


def structure(value: Any, names: Sequence[str], argument: str, what: str = "input") -> list[Any]:
    """`value` as a list with one entry per name: a dict by name, a list in order, or (one
    name) the value itself. A dict with a key missing, or one naming no output, or a list of the
    wrong length, is a ValueError that says which; keys that name no input are left unread, as
    Keras 3 does (a dataset's features may carry more than the model takes)."""
    if isinstance(value, Mapping):
        missing = [n for n in names if n not in value]
        extra = sorted(str(k) for k in value if k not in names) if what == "output" else []
        if missing or extra:
            raise ValueError(
                f"{argument} is a dict with the keys {sorted(map(str, value))}; the model's {what}s are {list(names)}"
                + (f" (missing: {missing})" if missing else "") + (f" (not {what}s of the model: {extra})" if extra else "")
            )
        return [value[n] for n in names]
    if len(names) == 1:
        if isinstance(value, (list, tuple)) and len(value) == 1 and _is_array(value[0]):
            return [value[0]]
        return [value]
    if isinstance(value, (list, tuple)) and (not value or _is_array(value[0]) or isinstance(value[0], (list, tuple))):
        if len(value) != len(names):
            raise ValueError(f"{argument} is a list of {len(value)}, but the model has {len(names)} {what}s {list(names)}: "
                             f"give one array per {what}, or a dict by name")
        return list(value)
    raise ValueError(f"The model has {len(names)} {what}s {list(names)}; {argument} must be a list of {len(names)} arrays "
                     f"or a dict by name, got {type(value).__name__}")


def from_arrays(
    x: Any,
    y: Any,
    sample_weight: Any,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    float_dtype: torch.dtype,
    names: tuple[str, str, str] = ("x", "y", "sample_weight"),
    text_inputs: Sequence[bool] = (),
) -> ArrayData:
    """Checks and converts user arrays; `names` are the argument names used in errors."""
    x_name, y_name, w_name = names
    if x is None:
        raise ValueError(f"{x_name} is required; got {x_name}=None")

    def label(base: str, entries: Sequence[str], i: int) -> str:
        return base if len(entries) == 1 else f"{base}[{entries[i]!r}]"

    xs = [StringTensor.of(v) if i < len(text_inputs) and text_inputs[i] else
          to_tensor(v, label(x_name, input_names, i), float_dtype=float_dtype)
          for i, v in enumerate(structure(x, input_names, x_name))]
    for i, t in enumerate(xs):
        if t.ndim == 0 or t.shape[0] == 0:
            raise ValueError(f"{label(x_name, input_names, i)} holds no samples: shape {tuple(t.shape)}")
    ys = None if y is None else [to_tensor(v, label(y_name, output_names, i), float_dtype=float_dtype)
                                 for i, v in enumerate(structure(y, output_names, y_name, "output"))]
    ws: list[torch.Tensor | None] | None = None
    if sample_weight is not None:
        given = (structure(sample_weight, output_names, w_name, "output")
                 if isinstance(sample_weight, Mapping) or (len(output_names) > 1 and isinstance(sample_weight, (list, tuple))
                                                            and sample_weight and not isinstance(sample_weight[0], numbers.Number))
                 else [sample_weight] * len(output_names))
        ws = [None if v is None else to_tensor(v, label(w_name, output_names, i), float_dtype=float_dtype).to(float_dtype)
              for i, v in enumerate(given)]
    n = xs[0].shape[0]
    checked = [(label(x_name, input_names, i), t) for i, t in enumerate(xs[1:], 1)]
    checked += [(label(y_name, output_names, i), t) for i, t in enumerate(ys or [])]
    checked += [(label(w_name, output_names, i), t) for i, t in enumerate(ws or []) if t is not None]
    first = label(x_name, input_names, 0)
    for name, value in checked:
        if value.ndim == 0 or value.shape[0] != n:
            raise ValueError(
                f"{first} and {name} must hold the same number of samples, got {first} with "
                f"{n} and {name} with {_length(value) if value.ndim else 'a single value'}"
            )
    return ArrayData(xs, ys, ws)


def class_weights_for(y: torch.Tensor, class_weight: Mapping[int, float], argument: str = "y") -> torch.Tensor:
    """One weight per sample from Keras's `class_weight` dict: the weight of each sample's class
    (the class id for sparse labels, the argmax for one-hot ones, the rounded value for binary).

    >>> class_weights_for(torch.tensor([0, 1, 1]), {0: 1.0, 1: 3.0}).tolist()
    [1.0, 3.0, 3.0]
    """
    if not isinstance(class_weight, Mapping) or not class_weight:
        raise ValueError(f"Expected a dict {{class id: weight}} for class_weight, got class_weight={class_weight!r}")
    if y.dim() > 1 and y.shape[-1] > 1:
        ids = y.argmax(dim=-1)
    else:
        ids = (y.squeeze(-1) if y.dim() > 1 else y).round().long()
    if ids.dim() > 1:
        raise ValueError(f"class_weight needs one label per sample; {argument} has shape {tuple(y.shape)}")
    weights = ids.new_zeros(ids.shape, dtype=torch.float64)
    missing = sorted(set(ids.unique().tolist()) - set(int(k) for k in class_weight))
    if missing:
        raise ValueError(
            f"class_weight has no weight for class(es) {missing} found in {argument}; "
            f"given classes: {sorted(class_weight)}"
        )
    for class_id, weight in class_weight.items():
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"Expected class_weight's weights to be finite numbers >= 0, got class_weight[{class_id!r}]="
                             f"{weight!r}")
        weights[ids == int(class_id)] = float(weight)
    return weights


def check_targets(y: torch.Tensor, output_shape: tuple[Any, ...], sparse: bool, argument: str = "y") -> torch.Tensor:
    """Checks labels against the model's output and returns them in the shape the loss wants.

    Sparse labels (class ids) are shaped like the output without its class axis (a trailing axis
    of 1 is allowed) and lie in [0, classes); other targets have the output's shape (a missing
    trailing axis of 1 is added, as Keras does).
    """
    sample_out = tuple(output_shape[1:])
    if sparse:
        classes = sample_out[-1]
        ids_shape = tuple(y.shape[1:])
        if ids_shape not in (sample_out[:-1], (*sample_out[:-1], 1)) and not _fits(ids_shape, sample_out[:-1]):
            raise ValueError(
                f"{argument} holds class ids of shape {tuple(y.shape)}, but the model outputs "
                f"{output_shape}: expected {argument} of shape (samples, {', '.join(map(str, sample_out[:-1]))}) "
                "for a sparse loss".replace("(samples, )", "(samples,)")
            )
        if y.is_floating_point():
            if not torch.equal(y, y.round()):
                raise ValueError(f"{argument} must hold integer class ids for a sparse loss; it has fractional values")
            y = y.long()
        if y.numel():
            low, high = int(y.min()), int(y.max())
            if classes is not None and (low < 0 or high >= classes):
                bad = low if low < 0 else high
                raise ValueError(
                    f"{argument} contains the label {bad}, outside the model's {classes} classes "
                    f"(0 to {classes - 1}); check the labels or the size of the last Dense layer"
                )
        return y
    if tuple(y.shape[1:]) == sample_out[:-1] and sample_out[-1:] == (1,):
        y = y.unsqueeze(-1)
    if not _fits(tuple(y.shape[1:]), sample_out):
        raise ValueError(
            f"{argument} has shape {tuple(y.shape)}, but the model outputs {output_shape}; "
            "they must agree after the batch axis"
            + (" (class ids? use loss='sparse_categorical_crossentropy', or one-hot them with "
               "lstmkit.utils.to_categorical)" if y.dim() == 1 and len(sample_out) == 1 else "")
        )
    return y


def _fits(shape: tuple[Any, ...], expected: tuple[Any, ...]) -> bool:
    return len(shape) == len(expected) and all(e is None or e == s for s, e in zip(shape, expected))



class BatchStream:
    """The training batches of every epoch as one rank reads them, and where the order stands.

    Arrays and map-style Datasets are read pass after pass, pass p in the order
    `lstmkit.distributed.shard_order` gives this rank (DistributedSampler's: a permutation seeded
    by `seed` + p when shuffling; on one process, simply that permutation), in batches of
    `batch_size` (this rank's share of the global batch). A DataLoader or other iterable is read
    as it is, each pass a new iteration; its own shuffling draws from torch's generator, whose
    state when the pass began is kept so that a resumed run redraws the same order (and a
    DistributedSampler in it is told the pass number, as `set_epoch`).

    Without `steps_per_epoch` an epoch is one pass; with it, epochs take that many batches from
    passes that follow one another. `state()` (kept in checkpoints) is the seed, the pass under
    way and the batches it has given; `resume(state)` continues from there.
    """

    def __init__(self, data: ArrayData | TorchData, batch_size: int, shuffle: bool, seed: int,
                 world: int = 1, rank: int = 0) -> None:
        self.data, self.batch_size, self.shuffle = data, batch_size, shuffle
        self.seed, self.world, self.rank = seed, world, rank
        self.ordered = isinstance(data, ArrayData) or data.indexable
        self._next_pass = 0
        self._current: int | None = None  # the pass under way
        self._raw: Iterator[Any] | None = None
        self._pass_rng: torch.Tensor | None = None
        self._consumed = 0
        self._skip = 0  # batches of the next pass already used before a resume
        self._yielded = False  # whether any batch ever came
        self.ran_out = False  # a pass ended and the next gave nothing (a generator used up)

    def steps(self) -> int | None:
        """Batches in one pass on this rank (None for an iterable of unknown length)."""
        if self.ordered:
            return math.ceil(math.ceil(len(self.data) / self.world) / self.batch_size)  # type: ignore[arg-type]
        return self.data.steps(self.batch_size)

    def state(self) -> dict[str, Any]:
        under_way = self._current is not None
        return {"seed": self.seed, "pass": self._current if under_way else self._next_pass,
                "consumed": self._consumed if under_way else 0,
                "pass_rng": self._pass_rng if under_way else None}

    def resume(self, state: dict[str, Any]) -> None:
        self.seed = int(state["seed"])
        self._next_pass, self._skip = int(state["pass"]), int(state["consumed"])
        self._current, self._raw, self._consumed = None, None, 0
        rng = state.get("pass_rng")
        self._pass_rng = None if rng is None else torch.as_tensor(rng, dtype=torch.uint8)

    def _start_pass(self) -> None:
        self._current, self._next_pass = self._next_pass, self._next_pass + 1
        skip, self._skip, self._consumed = self._skip, 0, 0
        if self.ordered:
            order = shard_order(len(self.data), self.world, self.rank, self.shuffle, self.seed, self._current)
            self._raw = iter(self.data.batches(self.batch_size, order[skip * self.batch_size:]))
            self._consumed = skip
            return
        assert isinstance(self.data, TorchData)
        sampler = self.data.distributed_sampler
        if sampler is not None:
            sampler.set_epoch(self._current)
        resumed_rng = self._pass_rng if skip else None
        now = torch.get_rng_state()
        if resumed_rng is not None:
            torch.set_rng_state(resumed_rng)
        self._pass_rng = torch.get_rng_state()
        self._raw = iter(self.data.batches(self.batch_size))
        for _ in range(skip):
            next(self._raw, None)
            self._consumed += 1
        if resumed_rng is not None:
            torch.set_rng_state(now)

    def _next(self) -> Batch | None:
        if self._raw is None:
            self._start_pass()
        assert self._raw is not None
        batch = next(self._raw, None)
        if batch is None:
            self._raw, self._current, self._pass_rng, self._consumed = None, None, None, 0
            return None
        self._consumed += 1
        self._yielded = True
        return batch

    def epoch(self, steps_per_epoch: int | None, done: int = 0) -> Iterator[Batch]:
        """This epoch's batches; `done`: how many of them a resumed run has had already."""
        if steps_per_epoch is None:
            while (batch := self._next()) is not None:
                yield batch
            return
        for _ in range(steps_per_epoch - done):
            batch = self._next()
            if batch is None:  # the pass ran out: Keras restarts the data, reshuffled
                batch = self._next()
                if batch is None:
                    if not self._yielded:
                        raise ValueError("The training data yielded no batches")
                    self.ran_out = True  # a generator used up: the loop stops training, as Keras does
                    return
            yield batch
