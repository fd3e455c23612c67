"""`compile`, `fit`, `evaluate`: Keras's training interface, for a model that is an `nn.Module`.

`Trainer` is mixed into `Sequential`. One training step is:

    z = model(x, training=True)                 the logits, when the last layer ends in softmax/sigmoid
    loss = reduce(loss_fn(y, z), sample_weight) + Σ model.losses
    optimizer step, then model.apply_constraints()

The figures shown and returned are Keras's: the loss as the mean over batches weighted by
batch size, the metrics as weighted means over samples (see `metrics.Mean`).
"""

from __future__ import annotations

import json
import math
import numbers
import os
import warnings
from typing import Any, Iterable, Mapping, Sequence

import torch
from torch import nn

from .. import activations, distributed
from .._checks import non_negative_int, one_of, positive_int
from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from .callbacks import Callback, CallbackList, History, ProgbarLogger, callback_items
from ..layers.base import check_finite
from .data import ArrayData, BatchStream, TorchData, check_targets, class_weights_for, from_arrays, is_torch_data

_SPARSE_LOSSES = (losses_module.sparse_categorical_crossentropy,)
# a crossentropy and the activation whose logits it can take instead of probabilities
_LOGIT_PAIRS = {
    losses_module.sparse_categorical_crossentropy: "softmax",
    losses_module.categorical_crossentropy: "softmax",
    losses_module.binary_crossentropy: "sigmoid",
}


def _verbosity(verbose: Any) -> int:
    """The progress display's level; always 0 on ranks other than 0 (one display per run)."""
    verbose = one_of("verbose", verbose, ("auto", 0, 1, 2))
    return (1 if verbose == "auto" else int(verbose)) if distributed.is_main_process() else 0


class Trainer(nn.Module):
    """Base of models: Keras's `compile` / `fit` / `evaluate` / `train_on_batch` / `test_on_batch`.

    A model class provides `forward(x, mask=, training=, logits=)` and the members below that
    raise NotImplementedError here.
    """

    name: str
    layers: Any

    @property
    def built(self) -> bool:
        raise NotImplementedError

    @property
    def output_shape(self) -> Any:
        raise NotImplementedError

    @property
    def compute_dtype(self) -> torch.dtype:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        raise NotImplementedError

    @property
    def losses(self) -> list[torch.Tensor]:
        raise NotImplementedError

    check_finite: bool = True

    def as_input(self, x: Any, argument: str = "x") -> torch.Tensor:
        raise NotImplementedError

    def check_input_shape(self, shape: Sequence[int], argument: str = "x") -> None:
        raise NotImplementedError

    def apply_constraints(self) -> None:
        raise NotImplementedError

    def forward_with_mask(
        self, x: Any, mask: torch.Tensor | None = None, training: bool | None = None, logits: bool = False
    ) -> tuple[Any, torch.Tensor | None]:
        raise NotImplementedError

    optimizer: optimizers_module.Optimizer | None = None
    loss: Any = None
    compiled: bool = False
    stop_training: bool = False
    history: History | None = None

    # ---- compile -------------------------------------------------------------------------------

    def compile(
        self,
        optimizer: str | optimizers_module.Optimizer = "rmsprop",
        loss: losses_module.LossLike | None = None,
        metrics: metrics_module.MetricLike | Sequence[metrics_module.MetricLike] | None = None,
    ) -> None:
        """Sets the optimizer, the loss and the metrics for `fit` and `evaluate`.

        Args:
            optimizer: A name ("adam", "sgd", "rmsprop", "adagrad", with Keras's defaults) or an
                optimizer object such as `Adam(learning_rate=1e-3)`.
            loss: A loss name (e.g. "sparse_categorical_crossentropy") or a callable
                `(y_true, y_pred) -> per-sample losses`.
            metrics: Names ("accuracy", "mae", "mse", ...) or callables, reported by name.

        Raises:
            ValueError: For an unknown optimizer, loss or metric name.
        """
        optimizer_obj = optimizers_module.get(optimizer)
        loss_fn = None if loss is None else losses_module.get(loss)
        if metrics is None:
            metric_list: list[metrics_module.MetricLike] = []
        elif isinstance(metrics, (list, tuple)):
            metric_list = list(metrics)
        else:
            metric_list = [metrics]  # type: ignore[list-item]
        for identifier in metric_list:
            metrics_module.check(identifier)
        names = [metrics_module.name_of(m) for m in metric_list]
        repeated = sorted({n for n in names if names.count(n) > 1} | ({"loss"} & set(names)))
        if repeated:
            raise ValueError(f"Metric names must be unique and not 'loss'; got metrics={names}")
        self.optimizer = optimizer_obj
        self.loss = loss
        self._loss_fn = loss_fn
        self._metric_specs = list(zip(names, metric_list))
        self._metric_fns: list[tuple[str, metrics_module.MetricFn]] | None = None
        self.compiled = True
        if self.built:
            self._bind_optimizer()

    @property
    def metrics_names(self) -> list[str]:
        return ["loss", *(name for name, _ in getattr(self, "_metric_specs", []))]

    def _bind_optimizer(self) -> None:
        assert self.optimizer is not None
        if not self.optimizer.built:
            trainable = [p for p in self.parameters() if p.requires_grad]
            if not trainable:
                raise ValueError(f"Model {self.name!r} has no trainable weights")
            self.optimizer.build(trainable)

    def _require_compiled(self, method: str) -> None:
        if not self.compiled:
            raise ValueError(f"Call model.compile(optimizer=..., loss=...) before model.{method}()")
        if self._loss_fn is None:
            raise ValueError(f"model.{method}() needs a loss; compile was given loss=None")

    # ---- data ------------------------------------------------------------------------------------

    def _logit_activation(self) -> Any:
        """The last layer's softmax/sigmoid when the loss can use the logits under it, else None."""
        wanted = _LOGIT_PAIRS.get(self._loss_fn)  # type: ignore[arg-type]
        if wanted is None:
            return None
        activation = self.layers[-1].logits_activation()
        return activation if activation is activations.get(wanted) else None

    def _ensure_built_for(self, x: torch.Tensor) -> None:
        if not self.built:
            with torch.no_grad():
                self(x[:1], training=False)

    def _prepare(
        self,
        x: Any,
        y: Any,
        sample_weight: Any,
        class_weight: Mapping[int, float] | None,
        names: tuple[str, str, str] = ("x", "y", "sample_weight"),
    ) -> ArrayData | TorchData:
        """Checks user data against the model and the loss, and wraps it for batching."""
        if is_torch_data(x):
            for name, value in ((names[1], y), (names[2], sample_weight)):
                if value is not None:
                    raise ValueError(
                        f"{name} must be None when {names[0]} is a torch Dataset or DataLoader "
                        "(its items carry the targets and weights)"
                    )
            return TorchData(x)
        if y is None:
            raise ValueError(f"{names[1]} is required with array inputs; got {names[1]}=None")
        data = from_arrays(x, y, sample_weight, float_dtype=self.compute_dtype, names=names)
        self.check_input_shape(tuple(data.x.shape), names[0])
        for name, value in zip(names, (data.x, data.y, data.sample_weight)):
            if value is not None and (name != names[0] or self.check_finite):
                check_finite(value, name, inputs=name == names[0])
        self._ensure_built_for(data.x)
        assert data.y is not None
        data.y = self._check_y(data.y, names[1])
        if class_weight is not None:
            weights = class_weights_for(data.y, class_weight, names[1]).to(self.compute_dtype)
            data.sample_weight = weights if data.sample_weight is None else data.sample_weight * weights
        return data

    def _check_y(self, y: torch.Tensor, argument: str) -> torch.Tensor:
        if self._loss_fn not in (*_SPARSE_LOSSES, *_LOGIT_PAIRS, losses_module.mse, losses_module.mae, losses_module.huber):
            return y  # a user's loss decides for itself what targets mean
        return check_targets(y, self.output_shape, sparse=self._loss_fn in _SPARSE_LOSSES, argument=argument)

    def _batch_tensors(
        self, x: Any, y: Any, sample_weight: Any, from_loader: bool, class_weight: Mapping[int, float] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Moves one batch to the model's device. Floats already have the model's dtype: arrays got
        it in `_prepare` up front, loader batches get it here through the same checks."""
        if from_loader:
            data = self._prepare(x, y, sample_weight, class_weight, names=("batch x", "batch y", "batch sample_weight"))
            assert isinstance(data, ArrayData) and data.y is not None
            x, y, sample_weight = data.x, data.y, data.sample_weight
        device = self.device
        return self.as_input(x), y.to(device), None if sample_weight is None else sample_weight.to(device)

    # ---- one step ----------------------------------------------------------------------------------

    def _forward_loss(
        self, x: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None, training: bool,
        replicas: distributed.Replicas | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The batch's loss (with the model's penalties), the predictions as probabilities, and
        the output's mask when it has one the shape of the per-step losses. With `replicas` the
        forward runs through DistributedDataParallel, whose backward averages the gradients."""
        assert self._loss_fn is not None
        activation = self._logit_activation()
        forward = self.forward_with_mask if replicas is None else replicas.forward
        out, mask = forward(x, training=training, logits=activation is not None)
        if activation is not None:
            values = self._loss_fn(y, out, from_logits=True, clip=True)  # type: ignore[call-arg]
            predictions = activation(out.detach())
        else:
            values = self._loss_fn(y, out)
            predictions = out.detach()
        if mask is not None and tuple(mask.shape) != tuple(values.shape):
            mask = None  # e.g. a user's loss that reduces over time itself
        weight = sample_weight if mask is None else losses_module.masked_weights(mask, sample_weight, values.dtype)
        loss = losses_module.reduce(values, weight)
        penalties = self.losses
        if penalties:
            loss = loss + torch.stack([p.to(loss.dtype) for p in penalties]).sum()
        return loss, predictions, mask

    def _update_metrics(
        self,
        trackers: dict[str, metrics_module.Mean],
        loss: torch.Tensor,
        y: torch.Tensor,
        predictions: torch.Tensor,
        mask: torch.Tensor | None,
        replicas: distributed.Replicas | None = None,
    ) -> dict[str, float]:
        if self._metric_fns is None:
            self._metric_fns = [
                (name, metrics_module.get(identifier, tuple(y.shape), tuple(predictions.shape)))
                for name, identifier in self._metric_specs
            ]
        sums = [metrics_module.Mean.sums(loss.detach(), weight=float(y.shape[0]))]
        # Keras weighs the loss by sample_weight but not the metrics; masked steps count in neither
        for _, fn in self._metric_fns:
            sums.append(metrics_module.Mean.sums(fn(y, predictions), None if mask is None else mask.to(predictions.dtype)))
        batch = torch.stack(sums).cpu()  # (1 + metrics, 2): Σ value·weight, Σ weight
        if replicas is not None:
            batch = replicas.sum(batch)  # the global batch's figures, the same on every rank
        for tracker, row in zip(trackers.values(), batch):
            tracker.add(row)
        return {name: tracker.result() for name, tracker in trackers.items()}

    def _new_trackers(self) -> dict[str, metrics_module.Mean]:
        return {name: metrics_module.Mean() for name in self.metrics_names}

    def _train_step(
        self, trackers: dict[str, metrics_module.Mean], x: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None,
        replicas: distributed.Replicas | None = None,
    ) -> dict[str, float]:
        assert self.optimizer is not None
        self.train()
        loss, predictions, mask = self._forward_loss(x, y, sample_weight, training=True, replicas=replicas)
        self._bind_optimizer()  # a model built by this very call gets its optimizer now
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.apply_constraints()
        return self._update_metrics(trackers, loss, y, predictions, mask, replicas)

    @torch.no_grad()
    def _test_step(
        self, trackers: dict[str, metrics_module.Mean], x: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None
    ) -> dict[str, float]:
        loss, predictions, mask = self._forward_loss(x, y, sample_weight, training=False)
        return self._update_metrics(trackers, loss, y, predictions, mask)

    # ---- fit -----------------------------------------------------------------------------------

    def fit(
        self,
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
    ) -> History:
        """Trains for `epochs` passes over the data; returns a `History`.

        Args:
            x, y: Inputs and targets as arrays or tensors; or `x` a torch `Dataset` / `DataLoader`
                of `(x, y)` or `(x, y, sample_weight)` (then `y` is None).
            batch_size: Samples per step (default 32); a `DataLoader` keeps its own.
            epochs: The index of the last epoch (training runs from `initial_epoch` to it).
            verbose: "auto" or 1: a progress bar per epoch; 2: one line per epoch; 0: silent.
            callbacks: `lstmkit.callbacks` objects.
            validation_split: The fraction of array samples, taken from the end, to hold out.
            validation_data: `(x_val, y_val)`, `(x_val, y_val, sample_weight_val)` or torch data.
            shuffle: Reshuffle the samples every epoch.
            class_weight: `{class id: weight}`, multiplying each sample's loss.
            sample_weight: One weight per sample (or per sample and time step).
            initial_epoch: The epoch to start from (to resume a run).
            steps_per_epoch: Batches per epoch (default: the whole data once).
            validation_batch_size: Batch size for validation (default `batch_size`).
            checkpoint_dir: Save a checkpoint there at the end of every epoch: weights,
                optimizer, callbacks' state, random generators and the place in the data.
            checkpoint_steps: Also save one every this many batches within an epoch.
            resume: Continue from the newest whole checkpoint in `checkpoint_dir` (start afresh
                when there is none). The run then ends with the weights, bit for bit on CPU, of
                a run that was never stopped. See `lstmkit.training.checkpoints`.
            distribute: "auto" (default): train data-parallel when this process is one of several
                ranks (started by `torchrun` or `--nproc`); "ddp": always (an error outside such a
                launch); None: never. Data-parallel, `batch_size` is the global batch (each rank
                computes batch_size / ranks of it) and the run trains the model that one process
                would with the same arguments. See `lstmkit.distributed`.

        Raises:
            ValueError: For bad arguments or data, naming the argument and the value.
        """
        self._require_compiled("fit")
        batch_size = positive_int("batch_size", 32 if batch_size is None else batch_size)
        validation_batch_size = positive_int(
            "validation_batch_size", batch_size if validation_batch_size is None else validation_batch_size
        )
        epochs = non_negative_int("epochs", epochs)
        initial_epoch = non_negative_int("initial_epoch", initial_epoch)
        verbosity = _verbosity(verbose)
        if steps_per_epoch is not None:
            steps_per_epoch = positive_int("steps_per_epoch", steps_per_epoch)
        if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real) or not 0 <= validation_split < 1:
            raise ValueError(f"Expected validation_split in [0, 1), got validation_split={validation_split!r}")

        train = self._prepare(x, y, sample_weight, class_weight)
        validation = self._validation_source(validation_data)
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
        replicas = self._start_replicas(train, batch_size) if distributed.wanted(distribute) else None
        world, rank = (1, 0) if replicas is None else (replicas.world, replicas.rank)
        main = distributed.is_main_process()  # rank 0 (or a plain process): the one that writes and warns
        checkpoints = None
        if checkpoint_dir is not None:
            from .checkpoints import Checkpoints

            checkpoints = Checkpoints(checkpoint_dir, checkpoint_steps)
        assert self.optimizer is not None
        # What a resumed run must share with the one that wrote the checkpoint. The optimizer by
        # class and settings, not its learning rate: callbacks (ReduceLROnPlateau, schedulers)
        # change that during a run, and the checkpoint restores it.
        optimizer_settings = {k: v for k, v in self.optimizer.get_config().items() if k != "learning_rate"}
        fit_settings = {"batch_size": batch_size, "samples": len(train) if isinstance(train, ArrayData) else None,
                        "steps_per_epoch": steps_per_epoch, "shuffle": bool(shuffle),
                        "data": train.fingerprint() if isinstance(train, ArrayData) else None,
                        "optimizer": {"class_name": type(self.optimizer).__name__,
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
                validation, validation_sharded = self._validation_share(validation, replicas)
        self.history = History()
        callback_list = self._callbacks(
            [*callback_items(callbacks), self.history], verbosity, {"epochs": epochs, "steps": steps, "in_fit": True}
        )
        self.stop_training = False
        try:
            if checkpoints is not None:
                checkpoints.acquire()
            callback_list.on_train_begin()
            convert = (lambda b: self._batch_tensors(b[0], b[1], b[2], from_loader=isinstance(train, TorchData),
                                                     class_weight=class_weight))
            saved = checkpoints.latest(self if self.built else None) if checkpoints is not None and resume else None
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
                    self._resume_from(saved, fit_settings, callback_list, stream, None, replicas)
            trackers = self._new_trackers()
            reported_nonfinite = False
            for epoch in range(start_epoch, epochs):
                if self.stop_training:
                    break
                callback_list.on_epoch_begin(epoch)
                trackers = self._new_trackers()
                logs: dict[str, float] = {}
                step = 0
                if saved is not None and saved.step > 0:  # mid-epoch: undo what on_epoch_begin changed
                    self._resume_from(saved, fit_settings, callback_list, stream, trackers, replicas)
                    logs = {name: tracker.result() for name, tracker in trackers.items()}
                    step = saved.step
                saved = None
                for batch in stream.epoch(steps_per_epoch, done=step):
                    callback_list.on_train_batch_begin(step)
                    logs = self._train_step(trackers, *convert(batch), replicas=replicas)
                    if not reported_nonfinite and not math.isfinite(logs.get("loss", 0.0)):
                        reported_nonfinite = True
                        if main:
                            _report_nonfinite_loss(logs["loss"], epoch, step, self.check_finite)
                    callback_list.on_train_batch_end(step, logs)
                    step += 1
                    if replicas is not None:
                        self.stop_training = replicas.any(self.stop_training)
                    if self.stop_training:
                        break
                    if checkpoints is not None and checkpoint_steps and step % checkpoint_steps == 0 and step != steps:
                        run = self._run_state(fit_settings, callback_list, stream, trackers, replicas)
                        if main:
                            checkpoints.save(self, epoch, step, run)
                epoch_logs = dict(logs)
                if validation is not None and not self.stop_training:
                    val_logs = self._evaluate_loop(validation, -(-validation_batch_size // world), callback_list, None,
                                                   replicas if validation_sharded else None)
                    epoch_logs.update({f"val_{name}": value for name, value in val_logs.items()})
                callback_list.on_epoch_end(epoch, epoch_logs)
                if replicas is not None:
                    self.stop_training = replicas.any(self.stop_training)
                if checkpoints is not None:
                    run = self._run_state(fit_settings, callback_list, stream, None, replicas)
                    if main:
                        checkpoints.save(self, epoch + 1, 0, run)
            callback_list.on_train_end()
        finally:
            if checkpoints is not None:
                checkpoints.release()
            if replicas is not None:
                replicas.close()
        return self.history

    # ---- data-parallel -----------------------------------------------------------------------

    def _start_replicas(self, train: ArrayData | TorchData, batch_size: int) -> distributed.Replicas:
        """Builds the model if a Dataset's first batch has not yet, and wraps it for DDP."""
        world = distributed.world_size()
        if isinstance(train, TorchData) and not train.indexable:
            if world > 1 and train.distributed_sampler is None:
                warnings.warn(
                    "Training data-parallel on a DataLoader without a DistributedSampler: every rank reads all of "
                    "it. Give it sampler=DistributedSampler(dataset) (lstmkit sets its epoch), or pass the Dataset "
                    "itself and lstmkit shards it.",
                    RuntimeWarning, stacklevel=3,
                )
        elif batch_size % world:
            raise ValueError(
                f"batch_size={batch_size} must be a multiple of the {world} ranks under distribute='ddp': it is the "
                f"global batch, of which each rank computes batch_size / {world}"
            )
        if not self.built and isinstance(train, TorchData):  # build from a first batch, drawing nothing
            with torch.random.fork_rng():
                self._batch_tensors(*next(iter(train.batches(1 if train.indexable else batch_size))), from_loader=True)
        self._bind_optimizer()
        return distributed.Replicas(self)

    @staticmethod
    def _validation_share(
        validation: ArrayData | TorchData, replicas: distributed.Replicas
    ) -> tuple[ArrayData | TorchData, bool]:
        """This rank's part of the validation data, and whether it is a part (a DataLoader of the
        user's own is read whole on every rank, unless its DistributedSampler splits it)."""
        if isinstance(validation, ArrayData) or validation.indexable:
            index = distributed.split_evenly(len(validation), replicas.world, replicas.rank)
            return validation.take(index), True
        return validation, validation.distributed_sampler is not None

    # ---- checkpoints -------------------------------------------------------------------------

    @staticmethod
    def _stateful(callback_list: CallbackList) -> dict[str, Callback]:
        """The callbacks whose state a checkpoint keeps, by position and class (not the progress bar)."""
        kept = [c for c in callback_list.callbacks if not isinstance(c, ProgbarLogger)]
        return {f"{i}:{type(c).__name__}": c for i, c in enumerate(kept)}

    def _run_state(
        self, fit_settings: dict[str, Any], callback_list: CallbackList, stream: BatchStream,
        trackers: dict[str, metrics_module.Mean] | None, replicas: distributed.Replicas | None,
    ) -> dict[str, Any]:
        """What a checkpoint keeps of the run (the same on every rank, but for the random
        generators: each rank's torch generator state is gathered, on every rank)."""
        from .checkpoints import rng_state

        return {
            "fit": fit_settings,
            "stream": stream.state(),
            "rng": rng_state(),
            "torch_rng_by_rank": None if replicas is None else replicas.gather(torch.get_rng_state()),
            "trackers": None if trackers is None else {k: [t.total, t.count] for k, t in trackers.items()},
            "callbacks": {key: c.get_state() for key, c in self._stateful(callback_list).items()},
            "stopped": bool(self.stop_training),
        }

    def _resume_from(
        self, saved: Any, fit_settings: dict[str, Any], callback_list: CallbackList, stream: BatchStream,
        trackers: dict[str, metrics_module.Mean] | None, replicas: distributed.Replicas | None,
    ) -> None:
        """Puts the run back where the checkpoint `saved` left it, on any number of ranks: the
        same global batches follow (rank r takes the generator state rank r had, when it had one)."""
        from ..models import saving
        from .checkpoints import set_rng_state

        run = saved.run
        if "seed" not in run["stream"]:
            raise ValueError(f"Cannot resume from {saved.path!r}: it was written by an older lstmkit, which kept the data order another way")
        if not self.built and isinstance(stream.data, TorchData):  # build from a first batch, drawing nothing
            with torch.random.fork_rng():
                first = next(iter(stream.data.batches(stream.batch_size)))
                self._batch_tensors(*first, from_loader=True)
        for key, value in fit_settings.items():
            if run["fit"].get(key) != value:
                raise ValueError(
                    f"Cannot resume from {saved.path!r}: it was saved by a run with {key}={run['fit'].get(key)!r}, "
                    f"this fit has {key}={value!r} (resume with the same data and settings, or use another checkpoint_dir)"
                )
        stateful = self._stateful(callback_list)
        if set(stateful) != set(run["callbacks"]):
            raise ValueError(
                f"Cannot resume from {saved.path!r}: it was saved with the callbacks {sorted(run['callbacks'])}, "
                f"this fit has {sorted(stateful)}"
            )
        if trackers is not None and run["trackers"] is not None and set(run["trackers"]) != set(trackers):
            raise ValueError(f"Cannot resume from {saved.path!r}: it holds the running figures {sorted(run['trackers'])}, "
                             f"this fit computes {sorted(trackers)}")
        saving._load_weights_into(self, saved.tensors, saved.path)
        if "optimizer_state" in saved.header:
            saving.load_optimizer_state(self, saved.header, saved.tensors, saved.path)
        for key, callback in stateful.items():
            try:
                callback.set_state(run["callbacks"][key])
            except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
                raise ValueError(f"Cannot resume from {saved.path!r}: the state it holds for the callback {key} does "
                                 f"not read back ({type(err).__name__}: {err})") from None
        if trackers is not None and run["trackers"] is not None:
            for name, (total, count) in run["trackers"].items():
                trackers[name].total, trackers[name].count = float(total), float(count)
        set_rng_state(run["rng"])
        if replicas is not None:
            by_rank = run.get("torch_rng_by_rank") or []
            if replicas.rank < len(by_rank):
                torch.set_rng_state(torch.as_tensor(by_rank[replicas.rank], dtype=torch.uint8))
            else:  # more ranks than wrote the checkpoint: a new stream of dropout masks for this one
                torch.manual_seed(int(torch.randint(0, 2**62, ()).item()) + replicas.rank)
        stream.resume(run["stream"])
        self.stop_training = bool(run["stopped"])

    def _validation_source(self, validation_data: Any) -> ArrayData | TorchData | None:
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
        return self._prepare(vx, vy, vw, None, names=("validation_data[0]", "validation_data[1]", "validation_data[2]"))

    def _callbacks(self, callbacks: Iterable[Callback] | None, verbosity: int, params: dict[str, Any]) -> CallbackList:
        progress: list[Callback] = [ProgbarLogger(verbosity)] if verbosity else []
        return CallbackList([*progress, *callback_items(callbacks)], self, {**params, "verbose": verbosity})

    # ---- evaluate ------------------------------------------------------------------------------

    def _evaluate_loop(
        self, data: ArrayData | TorchData, batch_size: int, callback_list: CallbackList, steps: int | None,
        replicas: distributed.Replicas | None = None,
    ) -> dict[str, float]:
        """The figures over `data`; with `replicas`, `data` is this rank's share and the figures
        are those of all the shares together (the same on every rank)."""
        trackers = self._new_trackers()
        logs = {name: math.nan for name in trackers}
        callback_list.on_test_begin()
        from_loader = isinstance(data, TorchData)
        for step, batch in enumerate(data.batches(batch_size)):
            if steps is not None and step >= steps:
                break
            callback_list.on_test_batch_begin(step)
            logs = self._test_step(trackers, *self._batch_tensors(*batch, from_loader=from_loader))
            callback_list.on_test_batch_end(step, logs)
        if replicas is not None:
            totals = replicas.sum(torch.tensor([[t.total, t.count] for t in trackers.values()], dtype=torch.float64))
            for tracker, (total, count) in zip(trackers.values(), totals.tolist()):
                tracker.total, tracker.count = total, count
            logs = {name: tracker.result() for name, tracker in trackers.items()}
        callback_list.on_test_end(logs)
        return logs

    def evaluate(
        self,
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
        loss alone without metrics, else `[loss, *metrics]` (or a dict with `return_dict`)."""
        self._require_compiled("evaluate")
        batch_size = positive_int("batch_size", 32 if batch_size is None else batch_size)
        verbosity = _verbosity(verbose)
        if steps is not None:
            steps = positive_int("steps", steps)
        data = self._prepare(x, y, sample_weight, None)
        total = data.steps(batch_size)  # None for data of unknown length
        shown_steps = min(total, steps) if total is not None and steps is not None else (steps or total)
        callback_list = self._callbacks(callbacks, verbosity, {"epochs": 1, "steps": shown_steps})
        return self._as_result(self._evaluate_loop(data, batch_size, callback_list, steps), return_dict)

    # ---- single batches ------------------------------------------------------------------------

    def train_on_batch(
        self, x: Any, y: Any, sample_weight: Any = None, class_weight: Mapping[int, float] | None = None, return_dict: bool = False
    ) -> Any:
        """One optimizer step on one batch; returns that batch's loss (and metrics), as `evaluate` does."""
        self._require_compiled("train_on_batch")
        data = self._prepare(x, y, sample_weight, class_weight)
        assert isinstance(data, ArrayData) and data.y is not None
        logs = self._train_step(self._new_trackers(), *self._batch_tensors(data.x, data.y, data.sample_weight, False))
        return self._as_result(logs, return_dict)

    def test_on_batch(self, x: Any, y: Any, sample_weight: Any = None, return_dict: bool = False) -> Any:
        """The loss (and metrics) of one batch in inference mode."""
        self._require_compiled("test_on_batch")
        data = self._prepare(x, y, sample_weight, None)
        assert isinstance(data, ArrayData) and data.y is not None
        logs = self._test_step(self._new_trackers(), *self._batch_tensors(data.x, data.y, data.sample_weight, False))
        return self._as_result(logs, return_dict)

    def _as_result(self, logs: dict[str, float], return_dict: bool) -> Any:
        if return_dict:
            return logs
        values = [logs[name] for name in self.metrics_names]
        return values[0] if len(values) == 1 else values


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
        stacklevel=3,
    )
