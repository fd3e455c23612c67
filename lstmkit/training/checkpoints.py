"""Checkpoints of a training run, so `fit(..., checkpoint_dir=DIR, resume=True)` continues a run
that was killed and ends with the same weights, bit for bit on CPU, as a run never stopped.

Under data-parallel training rank 0 writes the checkpoints and every rank reads them back; a
checkpoint resumes on any number of ranks (see `lstmkit.distributed`).

A checkpoint is a model archive (see `lstmkit.models.saving`) with format "lstmkit.checkpoint"
and the run's state under "run" in its JSON (arrays among the tensors, as "state.<n>"):

    position      epoch and step: `step` batches of `epoch` are done (step 0: the epoch has not begun)
    stream        where the data order stands (`lstmkit.training.data.BatchStream.state`): the
                  shuffle's seed, the pass over the data under way and how many batches of it
                  were used; a resumed run redraws that pass's order and skips those batches
                  (for a DataLoader of the user's, the torch generator's state when the pass
                  began stands in for the seed)
    rng           torch's, numpy's and Python's generators at the moment of the checkpoint
                  (dropout masks come from them)
    torch_rng_by_rank  under data-parallel training, every rank's torch generator, so that
                  each rank resumes its own dropout masks (None in a single process)
    trackers      the running sums behind the epoch's loss and metrics (mid-epoch checkpoints)
    callbacks     each callback's `get_state()` (History, EarlyStopping, CSVLogger, ...)
    fit           batch size, sample count, steps per epoch, shuffle: a resume with other
                  settings is refused, as it could not continue the same run
    stopped       whether a callback had stopped training

Files are `checkpoint-<epoch>-<step>.lstmkit` in DIR, written atomically; the newest `KEEP` are
kept. Resuming takes the newest that reads back whole and skips (with a warning) any that do not.
"""

from __future__ import annotations

import glob
import os
import random
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import distributed
from .._io import DirectoryLock
from ..models import saving

KEEP = 2
_NAME = "checkpoint-{epoch:06d}-{step:09d}.lstmkit"


@dataclass
class Saved:
    """A checkpoint read back: where it was, its header and tensors, and the run state."""

    path: str
    epoch: int
    step: int
    header: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    run: dict[str, Any]


def _encode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON for `value`, its arrays moved into `tensors` as {"__tensor__": key}."""
    if isinstance(value, (np.ndarray, torch.Tensor)):
        key = f"state.{len([k for k in tensors if k.startswith('state.')])}"
        tensors[key] = torch.as_tensor(np.asarray(value) if isinstance(value, np.ndarray) else value).clone()
        return {"__tensor__": key, "numpy": isinstance(value, np.ndarray)}
    if isinstance(value, (list, tuple)):
        return [_encode(v, tensors) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v, tensors) for k, v in value.items()}
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, dict) and "__tensor__" in value:
        tensor = tensors[value["__tensor__"]]
        return tensor.numpy() if value.get("numpy") else tensor
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if isinstance(value, dict):
        return {k: _decode(v, tensors) for k, v in value.items()}
    return value


def rng_state() -> dict[str, Any]:
    """The state of every generator a training step may draw from."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # type: ignore[misc]
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": np.asarray(keys, dtype=np.int64), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "internal": np.asarray(internal, dtype=np.int64), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [s for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(torch.as_tensor(state["torch"], dtype=torch.uint8))
    n = state["numpy"]
    np.random.set_state((n["kind"], np.asarray(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in np.asarray(p["internal"])), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.as_tensor(s, dtype=torch.uint8) for s in state["cuda"]])


def _require(condition: bool, field: str, value: Any, expected: str) -> None:
    if not condition:
        raise ValueError(f"its run state has {field}={value!r:.80}, expected {expected}")


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_run(run: Any) -> None:
    """Checks every field of a checkpoint's run state before any of it is used (a ValueError
    naming the field): a hand-edited or damaged file is refused, never half applied."""
    _require(isinstance(run, dict), "run", run, "a dict")
    for key, kind in (("position", dict), ("fit", dict), ("stream", dict), ("rng", dict), ("callbacks", dict)):
        _require(isinstance(run.get(key), kind), key, run.get(key), f"a {kind.__name__}")
    position = run["position"]
    for key in ("epoch", "step"):
        _require(_count(position.get(key)), f"position.{key}", position.get(key), "an integer >= 0")
    _require(isinstance(run.get("stopped"), bool), "stopped", run.get("stopped"), "true or false")
    stream = run["stream"]
    for key in ("seed", "pass", "consumed"):
        if key in stream:  # a checkpoint without "seed" is an older lstmkit's, refused by name on resume
            _require(_count(stream[key]), f"stream.{key}", stream[key], "an integer >= 0")
    pass_rng = stream.get("pass_rng")
    _require(pass_rng is None or (isinstance(pass_rng, torch.Tensor) and pass_rng.dtype == torch.uint8),
             "stream.pass_rng", pass_rng, "null or a torch generator state")
    rng = run["rng"]
    size = torch.get_rng_state().numel()
    torch_state = rng.get("torch")
    _require(isinstance(torch_state, torch.Tensor) and torch_state.dtype == torch.uint8 and torch_state.numel() == size,
             "rng.torch", torch_state, f"{size} bytes of torch generator state")
    numpy_state, python_state = rng.get("numpy"), rng.get("python")
    _require(isinstance(numpy_state, dict) and isinstance(numpy_state.get("keys"), np.ndarray)
             and numpy_state["keys"].shape == (624,) and _count(numpy_state.get("pos"))
             and numpy_state.get("kind") == "MT19937", "rng.numpy", numpy_state, "numpy's MT19937 state")
    _require(isinstance(python_state, dict) and isinstance(python_state.get("internal"), np.ndarray)
             and python_state["internal"].shape == (625,), "rng.python", python_state, "Python's generator state")
    by_rank = run.get("torch_rng_by_rank")
    _require(by_rank is None or (isinstance(by_rank, list) and all(
        isinstance(s, torch.Tensor) and s.dtype == torch.uint8 and s.numel() == size for s in by_rank)),
        "torch_rng_by_rank", by_rank, "null or a list of torch generator states")
    trackers = run.get("trackers")
    _require(trackers is None or (isinstance(trackers, dict) and all(
        isinstance(v, list) and len(v) == 2 and all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in v)
        for v in trackers.values())), "trackers", trackers, "null or {name: [total, count]}")


class Checkpoints:
    """The checkpoints of one run in `directory`; `every_steps` adds mid-epoch ones."""

    def __init__(self, directory: str | os.PathLike[str], every_steps: int | None = None) -> None:
        self.directory = os.fspath(directory)
        if os.path.exists(self.directory) and not os.path.isdir(self.directory):
            raise ValueError(f"checkpoint_dir must be a directory, got the file {self.directory!r}")
        self.every_steps = every_steps
        self._lock = DirectoryLock(self.directory, "checkpoint_dir")

    def acquire(self) -> None:
        """Takes the directory for this run (rank 0 alone writes under data-parallel training);
        a ValueError when another run, alive, holds it."""
        if distributed.is_main_process():
            os.makedirs(self.directory, exist_ok=True)
            self._lock.acquire()
            for leftover in glob.glob(os.path.join(glob.escape(self.directory), ".checkpoint-*.tmp")):
                os.remove(leftover)  # a write that a kill cut short; the file it would have replaced is whole

    def release(self) -> None:
        self._lock.release()

    def paths(self) -> list[str]:
        """Checkpoint files, newest first."""
        return sorted(glob.glob(os.path.join(self.directory, "checkpoint-*-*.lstmkit")), reverse=True)

    def save(self, model: Any, epoch: int, step: int, run: dict[str, Any]) -> str:
        header, tensors = saving.model_state(model)
        header["format"] = saving.CHECKPOINT_FORMAT
        header["run"] = _encode({**run, "position": {"epoch": epoch, "step": step}}, tensors)
        path = os.path.join(self.directory, _NAME.format(epoch=epoch, step=step))
        saving.write_archive(path, header, tensors)
        for old in self.paths()[KEEP:]:
            os.remove(old)
        return path

    def latest(self, model: Any = None) -> Saved | None:
        """The newest checkpoint that reads back whole, or None when there is none; with a built
        `model`, its tensors' names and shapes are checked against it before they are read."""
        for path in self.paths():
            try:
                header, tensors = saving.read_archive(path, saving.fits_model(model, path) if model is not None else None)
                if header.get("format") != saving.CHECKPOINT_FORMAT or not isinstance(header.get("run"), dict):
                    raise ValueError(f"{path!r} is not a checkpoint (format {header.get('format')!r})")
                run = _decode(header["run"], tensors)
                check_run(run)
                position = run["position"]
                return Saved(path, position["epoch"], position["step"], header, tensors, run)
            except saving.DoesNotFit:
                raise  # a whole checkpoint of another model: not one to skip silently
            except (ValueError, KeyError, TypeError) as err:
                warnings.warn(f"Skipping the checkpoint {path!r}, which does not read back: {err}", stacklevel=3)
        return None
