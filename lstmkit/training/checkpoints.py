"""Checkpoints of a training run, so `fit(..., checkpoint_dir=DIR, resume=True)` continues a run
that was killed and ends with the same weights, bit for bit on CPU, as a run never stopped.

Under data-parallel training rank 0 writes the checkpoints and every rank reads them back; a
checkpoint resumes on any number of ranks (see `lstmkit.distributed`).

A checkpoint is a model archive (see `lstmkit.saving.archive`) with format "lstmkit.checkpoint"
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

from typing import TYPE_CHECKING

import glob
import os
import warnings
from typing import Any

from .. import distributed
from .._io import DirectoryLock
from ..saving.archive import CHECKPOINT_FORMAT, DoesNotFit, read_archive, write_archive
from ..saving.weights import fits_module
from .model_file import model_state
from .run_state import Saved, check_run, decode, encode

KEEP = 2
_NAME = "checkpoint-{epoch:06d}-{step:09d}.lstmkit"


if TYPE_CHECKING:
    from .trainer import Trainer


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

    def save(self, model: Trainer, epoch: int, step: int, run: dict[str, Any]) -> str:
        header, tensors = model_state(model)
        header["format"] = CHECKPOINT_FORMAT
        header["run"] = encode({**run, "position": {"epoch": epoch, "step": step}}, tensors)
        path = os.path.join(self.directory, _NAME.format(epoch=epoch, step=step))
        write_archive(path, header, tensors)
        for old in self.paths()[KEEP:]:
            os.remove(old)
        return path

    def latest(self, model: Trainer | None = None) -> Saved | None:
        """The newest checkpoint that reads back whole, or None when there is none; with a built
        `model`, its tensors' names and shapes are checked against it before they are read."""
        for path in self.paths():
            try:
                header, tensors = read_archive(path, fits_module(model, path, model.name) if model is not None else None)
                if header.get("format") != CHECKPOINT_FORMAT or not isinstance(header.get("run"), dict):
                    raise ValueError(f"{path!r} is not a checkpoint (format {header.get('format')!r})")
                run = decode(header["run"], tensors)
                check_run(run)
                position = run["position"]
                return Saved(path, position["epoch"], position["step"], header, tensors, run)
            except DoesNotFit:
                raise  # a whole checkpoint of another model: not one to skip silently
            except (ValueError, KeyError, TypeError) as err:
                warnings.warn(f"Skipping the checkpoint {path!r}, which does not read back: {err}", stacklevel=3)
        return None
