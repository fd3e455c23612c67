"""The epoch loop: `fit` and `evaluate` over whole data sets, with callbacks, validation,
checkpoints and resume, and data-parallel training (see `lstmkit.distributed`).

Each function takes the model first; `Trainer` (in `trainer.py`) gives them to models as
Keras's methods. The steps themselves are in `step.py`, the data's checks in `inputs.py`, what
a checkpoint keeps of a run in `run_state.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import contextlib
import contextvars
import itertools
import json
import math
import numbers
import os
import warnings
from typing import Any, Iterable, Iterator, Mapping

import torch

from .. import _memory, _threads, distributed
from .._checks import non_negative_int, one_of, positive_int
from .callbacks import Callback, CallbackList, History, ProgbarLogger, callback_items
from .checkpoints import Checkpoints
from .compile import Setup
from .data import ArrayData, BatchStream, TorchData, is_torch_data
from .device_batches import looks_ahead, prefetched
from .inputs import batch_tensors, prepare
from .run_state import Saved, restore, snapshot
from ..layers.embedding import ids_checked
from .metrics import Tally
from .step import Step, new_trackers


_EPOCHS: contextvars.ContextVar[int | None] = contextvars.ContextVar("lstmkit_epochs_override", default=None)


if TYPE_CHECKING:
    from .trainer import Trainer


@contextlib.contextmanager
def epochs_override(epochs: int | None) -> Iterator[None]:
    """Within the block, every `fit` trains `epochs` epochs whatever it is asked (None: no change);
    `lstmkit run --epochs N` runs a program inside one."""
    token = _EPOCHS.set(epochs)
    try:
        yield
    finally:
        _EPOCHS.reset(token)


def verbosity(verbose: Any) -> int:
    """The progress display's level; always 0 on ranks other than 0 (one display per run)."""
    verbose = one_of("verbose", verbose, ("auto", 0, 1, 2))
    return (1 if verbose == "auto" else int(verbose)) if distributed.is_main_process() else 0


def resume_run(
    model: Trainer, setup: Setup, saved: Saved, fit_settings: dict[str, Any], callback_list: CallbackList,
    stream: BatchStream, trackers: Any, replicas: distributed.Replicas | None,
) -> None:
    restore(model, saved, fit_settings, callback_list, stream, trackers, replicas,
            lambda batch: batch_tensors(model, setup, batch[0], batch[1], batch[2], from_loader=True))


def fit(
    model: Trainer,
    x: Any = None,
    y: Any = None,
    batch_size: int | None = None,
    epochs: int = 1,
    verbose: str | int = "auto",
    callbacks: Iterable[Callback] | None = None,
    validation_split: float = 0.0,
    validation_data: Any = None,
    shuffle: bool = True,
    class_weight: Mapping[int, float] | None = None,
    sample_weight: Any = None,
    initial_epoch: int = 0,
    steps_per_epoch: int | None = None,
    validation_batch_size: int | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_steps: int | None = None,
    resume: bool = False,
    distribute: str | None = "auto",
    validation_steps: int | None = None,
) -> History:
    """`model.fit`: the arguments are documented there (`Trainer.fit`)."""
    setup, step_fns = model.require_compiled("fit")
    override = _EPOCHS.get()
    if override is not None:
        epochs = override
    batch_size = positive_int("batch_size", 32 if batch_size is None else batch_size)
    validation_batch_size = positive_int(
        "validation_batch_size", batch_size if validation_batch_size is None else validation_batch_size
    )
    epochs = non_negative_int("epochs", epochs)
    initial_epoch = non_negative_int("initial_epoch", initial_epoch)
    shown = verbosity(verbose)
    if steps_per_epoch is not None:
        steps_per_epoch = positive_int("steps_per_epoch", steps_per_epoch)
    if validation_steps is not None:
        validation_steps = positive_int("validation_steps", validation_steps)
    if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real) or not 0 <= validation_split < 1:
        raise ValueError(f"Expected validation_split in [0, 1), got validation_split={validation_split!r}")

    train = prepare(model, setup, x, y, sample_weight, class_weight)
    validation = validation_source(model, setup, validation_data)
    if validation_split:
        if not isinstance(train, ArrayData):
            raise ValueError(
                "validation_split works with array inputs only; with a Dataset or DataLoader pass validation_data"
            )
        if validation is not None:
            raise ValueError("Pass validation_split or validation_data, not both")
        train, validation = train.split(float(validation_split))

    if checkpoint_steps is not None:
        checkpoint_steps = positive_int("checkpoint_steps", checkpoint_steps)
    if (resume or checkpoint_steps) and checkpoint_dir is None:
        raise ValueError(f"resume={resume!r} and checkpoint_steps={checkpoint_steps!r} need checkpoint_dir=DIR")
    replicas = start_replicas(model, setup, train, batch_size) if distributed.wanted(distribute) else None
    world, rank = (1, 0) if replicas is None else (replicas.world, replicas.rank)
    main = distributed.is_main_process()  # rank 0 (or a plain process): the one that writes and warns
    checkpoints = None if checkpoint_dir is None else Checkpoints(checkpoint_dir, checkpoint_steps)
    optimizer = setup.optimizer
    # What a resumed run must share with the one that wrote the checkpoint. The optimizer by
    # class and settings, not its learning rate: callbacks (ReduceLROnPlateau, schedulers)
    # change that during a run, and the checkpoint restores it.
    optimizer_settings = {k: v for k, v in optimizer.get_config().items() if k != "learning_rate"}
    fit_settings = {"batch_size": batch_size, "samples": len(train) if isinstance(train, ArrayData) else None,
                    "steps_per_epoch": steps_per_epoch, "shuffle": bool(shuffle),
                    "data": train.fingerprint() if isinstance(train, ArrayData) else None,
                    "optimizer": {"class_name": type(optimizer).__name__,
                                  "config": json.loads(json.dumps(optimizer_settings))}}

    # The data order's seed comes from torch's generator (so set_random_seed repeats a run),
    # rank 0's on every rank; each rank then draws its own dropout masks.
    seed = int(torch.randint(0, 2**31 - 1, ()).item())
    if replicas is not None:
        seed = replicas.from_rank0(seed)
        torch.manual_seed(int(torch.randint(0, 2**62, ()).item()) + rank)
    stream = BatchStream(train, batch_size // world, shuffle, seed, world, rank)
    steps = steps_per_epoch or stream.steps()
    validation_sharded = False
    if replicas is not None:
        low, high = replicas.same(-1 if steps is None else steps)
        if low != high:
            raise ValueError(
                f"Under distribute='ddp' every rank must run the same number of batches per epoch; they run "
                f"{low} to {high} (a DataLoader of your own needs a DistributedSampler, or pass steps_per_epoch)"
            )
        if validation is not None:
            validation, validation_sharded = validation_share(validation, replicas)
    model.history = History()
    callback_list = make_callbacks(model, 
        [*callback_items(callbacks), model.history], shown, {"epochs": epochs, "steps": steps, "in_fit": True}
    )
    model.stop_training = False
    _memory.keep_freed_memory()
    governor, owns_governor = _threads.acquire()
    checked: list[Any] | None = None  # id_readers (`prepare` checks their ids), once the model is built
    try:
        if checkpoints is not None:
            checkpoints.acquire()
        callback_list.on_train_begin()
        convert = (lambda b: batch_tensors(model, setup, b[0], b[1], b[2], from_loader=isinstance(train, TorchData),
                                            class_weight=class_weight))
        saved = checkpoints.latest(model if model.built else None) if checkpoints is not None and resume else None
        start_epoch = initial_epoch
        if saved is not None and (saved.epoch, saved.step) > (epochs, 0):
            raise ValueError(
                f"Cannot resume from {saved.path!r}: it stands after {saved.epoch} epochs"
                + (f" and {saved.step} batches of the next" if saved.step else "")
                + f", past this fit's epochs={epochs}; fit with epochs={saved.epoch + (saved.step > 0)} or more "
                "to go on from it, or without resume=True (or with another checkpoint_dir) to start afresh"
            )
        if saved is not None:
            start_epoch = saved.epoch
            if saved.step == 0:  # an epoch boundary: nothing of the next epoch has run yet
                resume_run(model, setup, saved, fit_settings, callback_list, stream, None, replicas)
        trackers = new_trackers(setup)
        reported_nonfinite = False
        # the figures are read after every batch only for a callback that looks at them then, else
        # where the progress bar draws (under DDP each batch's are summed over the ranks on the device)
        every_batch = callback_list.reads_batch_logs("train")
        for epoch in range(start_epoch, epochs):
            if model.stop_training:
                break
            callback_list.on_epoch_begin(epoch)
            trackers = new_trackers(setup)
            step = 0
            if saved is not None and saved.step > 0:  # mid-epoch: undo what on_epoch_begin changed
                resume_run(model, setup, saved, fit_settings, callback_list, stream, trackers, replicas)
                step = trackers.batches = saved.step
            saved = None
            # batches prepared one ahead on a CUDA device; not where checkpoints are written, whose
            # record of the data order must stand at the batch just trained
            batches = prefetched(stream.epoch(steps_per_epoch, done=step), convert, model.device,
                                 looks_ahead(model.device) and checkpoints is None)
            for tensors in batches:
                governor.tick()
                callback_list.on_train_batch_begin(step)
                if checked is None and model.built:
                    checked = model.id_readers()
                with ids_checked(checked or ()):
                    step_fns.train(trackers, *tensors, replicas=replicas)
                logs = trackers.logs() if every_batch else trackers.live()
                reported_nonfinite = _check_loss(trackers, reported_nonfinite, epoch, main, model.check_finite)
                callback_list.on_train_batch_end(step, logs)
                step += 1
                if replicas is not None:
                    model.stop_training = replicas.any(model.stop_training)
                if model.stop_training:
                    break
                if checkpoints is not None and checkpoint_steps and step % checkpoint_steps == 0 and step != steps:
                    run = snapshot(model, fit_settings, callback_list, stream, trackers, replicas)
                    if main:
                        checkpoints.save(model, epoch, step, run)
            if stream.ran_out:
                warnings.warn(
                    "Your input ran out of data; interrupting training. Make sure that your dataset or generator can "
                    "generate at least `steps_per_epoch * epochs` batches (here "
                    f"{steps_per_epoch} * {epochs}). You may need to use the `.repeat()` function when building your "
                    "dataset.", UserWarning, stacklevel=4)
                model.stop_training = True
                if step == 0:  # nothing of this epoch ran: it is not an epoch of the History
                    break
            epoch_logs = trackers.logs() if trackers.batches else {}
            reported_nonfinite = _check_loss(trackers, reported_nonfinite, epoch, main, model.check_finite)
            if validation is not None and not model.stop_training:
                val_logs = evaluate_loop(model, setup, step_fns, validation, -(-validation_batch_size // world), callback_list,
                                         validation_steps,
                                               replicas if validation_sharded else None)
                epoch_logs.update({f"val_{name}": value for name, value in val_logs.items()})
            callback_list.on_epoch_end(epoch, epoch_logs)
            if replicas is not None:
                model.stop_training = replicas.any(model.stop_training)
            if checkpoints is not None:
                run = snapshot(model, fit_settings, callback_list, stream, None, replicas)
                if main:
                    checkpoints.save(model, epoch + 1, 0, run)
        callback_list.on_train_end()
    finally:
        _threads.release(governor, owns_governor)
        if checkpoints is not None:
            checkpoints.release()
        if replicas is not None:
            replicas.close()
    return model.history


def start_replicas(model: Trainer, setup: Setup, train: ArrayData | TorchData, batch_size: int) -> distributed.Replicas:
    """Builds the model if a Dataset's first batch has not yet, and wraps it for DDP."""
    world = distributed.world_size()
    if isinstance(train, TorchData) and not train.indexable:
        if world > 1 and train.distributed_sampler is None:
            warnings.warn(
                "Training data-parallel on a DataLoader without a DistributedSampler: every rank reads all of "
                "it. Give it sampler=DistributedSampler(dataset) (lstmkit sets its epoch), or pass the Dataset "
                "itself and lstmkit shards it.",
                RuntimeWarning, stacklevel=4,
            )
    elif batch_size % world:
        raise ValueError(
            f"batch_size={batch_size} must be a multiple of the {world} ranks under distribute='ddp': it is the "
            f"global batch, of which each rank computes batch_size / {world}"
        )
    if not model.built and isinstance(train, TorchData):  # build from a first batch, drawing nothing
        with torch.random.fork_rng():
            batch_tensors(model, setup, *next(iter(train.batches(1 if train.indexable else batch_size))), from_loader=True)
    model.bind_optimizer()
    return distributed.Replicas(model)

def validation_share(
    validation: ArrayData | TorchData, replicas: distributed.Replicas
) -> tuple[ArrayData | TorchData, bool]:
    """This rank's part of the validation data, and whether it is a part (a DataLoader of the
    user's own is read whole on every rank, unless its DistributedSampler splits it)."""
    if isinstance(validation, ArrayData) or validation.indexable:
        index = distributed.split_evenly(len(validation), replicas.world, replicas.rank)
        return validation.take(index), True
    return validation, validation.distributed_sampler is not None


def validation_source(model: Trainer, setup: Setup, validation_data: Any) -> ArrayData | TorchData | None:
    if validation_data is None:
        return None
    if is_torch_data(validation_data):
        return TorchData(validation_data)
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError(
            "Expected validation_data as (x_val, y_val), (x_val, y_val, sample_weight_val) or a torch "
            f"Dataset/DataLoader, got {type(validation_data).__name__}"
            + (f" of length {len(validation_data)}" if isinstance(validation_data, (tuple, list)) else "")
        )
    vx, vy, vw = (*validation_data, None)[:3]
    return prepare(model, setup, vx, vy, vw, None, names=("validation_data[0]", "validation_data[1]", "validation_data[2]"))


def make_callbacks(model: Trainer, callbacks: Iterable[Callback] | None, shown: int, params: dict[str, Any]) -> CallbackList:
    progress: list[Callback] = [ProgbarLogger(shown)] if shown else []
    return CallbackList([*progress, *callback_items(callbacks)], model, {**params, "verbose": shown})


def evaluate_loop(
    model: Trainer, setup: Setup, step_fns: Step, data: ArrayData | TorchData, batch_size: int, callback_list: CallbackList, steps: int | None,
    replicas: distributed.Replicas | None = None,
) -> dict[str, float]:
    """The figures over `data`; with `replicas`, `data` is this rank's share and the figures
    are those of all the shares together (the same on every rank)."""
    trackers = new_trackers(setup)
    every_batch = callback_list.reads_batch_logs("test")
    callback_list.on_test_begin()
    from_loader = isinstance(data, TorchData)
    _memory.keep_freed_memory()
    device = model.device
    batches = prefetched(itertools.islice(data.batches(batch_size), steps),
                         lambda b: batch_tensors(model, setup, *b, from_loader=from_loader), device, looks_ahead(device))
    checked: list[Any] | None = None  # id_readers (`prepare` checks their ids), once the model is built
    with _threads.governed() as governor:
        for step, tensors in enumerate(batches):
            governor.tick()
            callback_list.on_test_batch_begin(step)
            if checked is None and model.built:
                checked = model.id_readers()
            with ids_checked(checked or ()):
                step_fns.test(trackers, *tensors)
            callback_list.on_test_batch_end(step, trackers.logs() if every_batch else trackers.live())
    trackers.settle()
    if replicas is not None:
        totals = replicas.sum(torch.tensor([[t.total, t.count] for t in trackers.values()], dtype=torch.float64))
        for tracker, (total, count) in zip(trackers.values(), totals.tolist()):
            tracker.total, tracker.count = total, count
    logs = trackers.logs() if trackers.batches or replicas is not None else {name: math.nan for name in trackers}
    callback_list.on_test_end(logs)
    return logs



def evaluate(
    model: Trainer,
    x: Any = None,
    y: Any = None,
    batch_size: int | None = None,
    verbose: str | int = "auto",
    sample_weight: Any = None,
    steps: int | None = None,
    callbacks: Iterable[Callback] | None = None,
    return_dict: bool = False,
) -> Any:
    """The loss (and metrics) over the data in inference mode, as Keras returns them: the
    loss alone without metrics, else `[loss, *figures]` (or a dict with `return_dict`)."""
    setup, step_fns = model.require_compiled("evaluate")
    batch_size = positive_int("batch_size", 32 if batch_size is None else batch_size)
    shown = verbosity(verbose)
    if steps is not None:
        steps = positive_int("steps", steps)
    data = prepare(model, setup, x, y, sample_weight, None)
    total = data.steps(batch_size)  # None for data of unknown length
    shown_steps = min(total, steps) if total is not None and steps is not None else (steps or total)
    callback_list = make_callbacks(model, callbacks, shown, {"epochs": 1, "steps": shown_steps})
    return as_result(setup, evaluate_loop(model, setup, step_fns, data, batch_size, callback_list, steps), return_dict)


def as_result(setup: Setup, logs: dict[str, float], return_dict: bool) -> Any:
    if return_dict:
        return logs
    values = [logs[name] for name in setup.names]
    return values[0] if len(values) == 1 else values


def _check_loss(trackers: Tally, reported: bool, epoch: int, main: bool, inputs_checked: bool) -> bool:
    """Whether a non-finite loss has been reported in this fit, after reporting the first one the
    figures read so far show (on rank 0 only)."""
    if reported or trackers.nonfinite is None:
        return reported
    if main:
        batch, value = trackers.nonfinite
        _report_nonfinite_loss(value, epoch, batch, inputs_checked)
    return True


def _report_nonfinite_loss(value: float, epoch: int, step: int, inputs_checked: bool) -> None:
    """Warns once per `fit` at the first batch whose loss is NaN or infinite (the running mean of
    the epoch turns non-finite exactly there)."""
    cause = ("The inputs and targets were checked finite, so the weights or gradients overflowed"
             if inputs_checked else "model.check_finite is off, so the inputs may hold NaN or inf values")
    warnings.warn(
        f"The training loss became {value} at epoch {epoch + 1}, batch {step + 1}: the first non-finite loss of "
        f"this fit. {cause}: lower the learning rate, clip the gradients (e.g. Adam(clipnorm=1.0)), and pass "
        "callbacks=[TerminateOnNaN()] to stop at such a batch.",
        RuntimeWarning,
        stacklevel=5,
    )
