"""`compile`, `fit`, `evaluate`, `train_on_batch`, `test_on_batch`: Keras's training interface,
given to every model (`Trainer` is a base of `lstmkit.models.Model`).

The work is done in this package's modules, each one concern: `compile.py` (the losses and
metrics per output), `inputs.py` (data in, checked), `step.py` (the train and test steps),
`loop.py` (the epoch loop, validation, checkpoints, data-parallel), `run_state.py` (what a
checkpoint keeps of a run). This module only binds them to the model.

A model gives the training loop (and these methods rely on):

    input_names, output_names    one name per input and per output
    output_shapes                each output's shape, batch first
    output_activations()         per output, the activation its layer ends in when it can stop
                                 before it (`Layer.logits_activation`), else None
    run(xs, training, logits)    the outputs and their masks for a list of input tensors;
                                 `logits[i]`: output i before that activation
    adapt_inputs(xs)             the inputs as the model computes on them (dtype, device)
    check_inputs(shapes, arg)    a ValueError when data of these shapes cannot go in
    ensure_built_for(xs)         builds the model from a first batch if it is not built
    check_input_ids(xs)          checks, where data enters, what the layers reading inputs
                                 as given check per call (an Embedding's ids)
    id_readers()                 those layers: the steps of data so checked skip their check
    built, compute_dtype, device, losses, apply_constraints(), check_finite
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
from torch import nn

from .. import _memory, _threads
from .._checks import one_of, positive_int
from ..layers.embedding import ids_checked
from . import losses as losses_module
from . import loop
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from .callbacks import Callback, History
from .compile import Setup, setup
from .data import ArrayData
from .inputs import batch_tensors, prepare
from .step import Step, new_trackers


class Trainer(nn.Module):
    """Base of models: Keras's `compile` / `fit` / `evaluate` / `train_on_batch` / `test_on_batch`."""

    name: str
    check_finite: bool = True
    compile_setup: Setup | None = None
    stop_training: bool = False
    history: History | None = None

    # what a model provides (see the module docstring): the training side's functions take a
    # `Trainer` and use only what is declared here
    input_names: list[str]
    output_names: list[str]
    apply_constraints: Callable[[], None]
    text_inputs: Callable[[], list[bool]]
    shaped_text: Callable[[int, Any], Any]
    get_weights: Callable[[], list[Any]]
    set_weights: Callable[[Sequence[Any]], None]
    save: Callable[..., None]
    save_weights: Callable[..., None]
    get_config: Callable[[], dict[str, Any]]
    check_input_ids: Callable[[Sequence[Any]], None]
    id_readers: Callable[[], list[Any]]

    @property
    def output_shapes(self) -> list[Any]:
        """Each output's shape, batch first."""
        raise NotImplementedError

    @property
    def compute_dtype(self) -> torch.dtype:
        """The floating dtype the model computes in."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        """The device of the model's weights."""
        raise NotImplementedError

    @property
    def losses(self) -> list[torch.Tensor]:
        """The regularization penalties of the last forward pass."""
        raise NotImplementedError

    @property
    def trainable_variables(self) -> list[nn.Parameter]:
        """The weights the optimizer updates."""
        raise NotImplementedError

    def output_activations(self) -> list[Any]:
        """Per output, the activation its layer ends in when it can stop before it, else None."""
        raise NotImplementedError

    def run(self, xs: list[torch.Tensor], training: bool = False,
            logits: Sequence[bool] | None = None) -> tuple[list[Any], list[torch.Tensor | None]]:
        """The outputs and their masks for a list of input tensors; `logits[i]`: output i before that activation."""
        raise NotImplementedError

    def adapt_inputs(self, xs: list[torch.Tensor], argument: str = "x", check: bool = True,
                     place: bool = True) -> list[torch.Tensor]:
        """The inputs as the model computes on them (dtype; on its device with `place`), checked."""
        raise NotImplementedError

    def check_inputs(self, shapes: Sequence[Sequence[int]], argument: str = "x") -> None:
        """Raises ValueError when data of these shapes cannot go in."""
        raise NotImplementedError

    def ensure_built_for(self, xs: list[torch.Tensor]) -> None:
        """Builds the model from a first batch if it is not built."""
        raise NotImplementedError

    # ---- compile -------------------------------------------------------------------------------

    def compile(
        self,
        optimizer: str | optimizers_module.Optimizer = "rmsprop",
        loss: Any = None,
        metrics: Any = None,
        loss_weights: Sequence[float] | Mapping[str, float] | None = None,
        auto_scale_loss: bool = True,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile: bool | str = "auto",
    ) -> None:
        """Sets the optimizer, the losses and the metrics for `fit` and `evaluate`.

        Args:
            optimizer: A name ("adam", "sgd", "rmsprop", "adagrad", with Keras's defaults) or an
                optimizer object such as `Adam(learning_rate=1e-3)`.
            loss: A loss name (e.g. "sparse_categorical_crossentropy") or a callable
                `(y_true, y_pred) -> per-sample losses`; for a model of several outputs one for
                all, a list in output order or a dict by output name.
            metrics: Names ("accuracy", "mae", "mse", ...) or callables, reported by name; for
                several outputs also a list of lists or a dict by output name.
            loss_weights: The weight of each output's loss in the total (list or dict; default 1).
            auto_scale_loss: Under the "mixed_float16" policy, wrap the optimizer in a
                `LossScaleOptimizer` (dynamic loss scaling), as Keras 3 does; False leaves it as
                given.
            run_eagerly, steps_per_execution, jit_compile: Keras's settings of how its backend
                runs the step, taken so that a Keras program runs as written; they change no
                figure. lstmkit runs each batch eagerly (its recurrent layers are compiled
                kernels; `torch.compile(model)` compiles the rest, as Keras's torch backend
                does for `jit_compile=True`), and calls the batch hooks after every batch.

        Raises:
            ValueError: For an unknown optimizer, loss or metric name, or lists and dicts that do
                not match the outputs.
        """
        if not isinstance(run_eagerly, bool):
            raise ValueError(f"Expected run_eagerly to be True or False, got run_eagerly={run_eagerly!r}")
        positive_int("steps_per_execution", steps_per_execution)
        one_of("jit_compile", jit_compile, (True, False, "auto"))
        self.compile_setup = setup(self.output_names, optimizer, loss, metrics, loss_weights)
        policy = getattr(self, "_dtype_policy", None)
        if auto_scale_loss and policy is not None and policy.name == "mixed_float16" and \
                not isinstance(self.compile_setup.optimizer, optimizers_module.LossScaleOptimizer):
            # float16 gradients underflow without loss scaling: Keras 3 wraps the optimizer too
            self.compile_setup.optimizer = optimizers_module.LossScaleOptimizer(self.compile_setup.optimizer)
        self._step = Step(self, self.compile_setup)
        if self.built:
            self.bind_optimizer()

    @property
    def compiled(self) -> bool:
        """Whether `compile` was called."""
        return self.compile_setup is not None

    @property
    def optimizer(self) -> optimizers_module.Optimizer | None:
        """The optimizer given to `compile` (None before it)."""
        return None if self.compile_setup is None else self.compile_setup.optimizer

    @property
    def loss(self) -> Any:
        """The loss given to `compile` (None before it)."""
        return None if self.compile_setup is None else self.compile_setup.loss

    @property
    def metrics_names(self) -> list[str]:
        """The names of the figures `evaluate` returns: the loss, then each metric."""
        return ["loss"] if self.compile_setup is None else self.compile_setup.names

    def bind_optimizer(self) -> None:
        """Gives the optimizer the model's trainable weights, once (when the model is built)."""
        optimizer = self.optimizer
        assert optimizer is not None
        if not optimizer.built:
            trainable = [p for p in self.parameters() if p.requires_grad]
            if not trainable:
                raise ValueError(f"Model {self.name!r} has no trainable weights")
            optimizer.build(trainable)

    def require_compiled(self, method: str) -> tuple[Setup, Step]:
        """The compile settings and step functions; a ValueError naming `method` before `compile`."""
        if self.compile_setup is None:
            raise ValueError(f"Call model.compile(optimizer=..., loss=...) before model.{method}()")
        if not self.compile_setup.trained_outputs:
            raise ValueError(f"model.{method}() needs a loss; compile was given loss=None")
        return self.compile_setup, self._step

    # ---- fit and evaluate --------------------------------------------------------------------

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
        validation_steps: int | None = None,
    ) -> History:
        """Trains for `epochs` passes over the data; returns a `History`.

        Args:
            x, y: Inputs and targets as arrays or tensors (lists or dicts by name for several inputs or
                outputs); or `x` a torch `Dataset` / `DataLoader`
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
            validation_steps: Batches of `validation_data` per validation (default: all of it;
                needed for a generator that never ends).

        Raises:
            ValueError: For bad arguments or data, naming the argument and the value.
        """
        return loop.fit(
            self, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
            class_weight, sample_weight, initial_epoch, steps_per_epoch, validation_batch_size, checkpoint_dir,
            checkpoint_steps, resume, distribute, validation_steps,
        )

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
        loss alone without metrics, else `[loss, *figures]` in `metrics_names` order (or a dict
        with `return_dict`)."""
        return loop.evaluate(self, x, y, batch_size, verbose, sample_weight, steps, callbacks, return_dict)

    # ---- single batches ------------------------------------------------------------------------

    def train_on_batch(
        self, x: Any, y: Any, sample_weight: Any = None, class_weight: Mapping[int, float] | None = None,
        return_dict: bool = False,
    ) -> Any:
        """One optimizer step on one batch; returns that batch's loss (and metrics), as `evaluate` does."""
        _memory.keep_freed_memory()
        _threads.step_tick()
        setup_, step = self.require_compiled("train_on_batch")
        data = prepare(self, setup_, x, y, sample_weight, class_weight)
        assert isinstance(data, ArrayData) and data.y is not None
        tally = new_trackers(setup_)
        with ids_checked(self.id_readers()):
            step.train(tally, *batch_tensors(self, setup_, data.x, data.y, data.sample_weight, False))
        return loop.as_result(setup_, tally.logs(), return_dict)

    def test_on_batch(self, x: Any, y: Any, sample_weight: Any = None, return_dict: bool = False) -> Any:
        """The loss (and metrics) of one batch in inference mode."""
        _memory.keep_freed_memory()
        _threads.step_tick()
        setup_, step = self.require_compiled("test_on_batch")
        data = prepare(self, setup_, x, y, sample_weight, None)
        assert isinstance(data, ArrayData) and data.y is not None
        tally = new_trackers(setup_)
        with ids_checked(self.id_readers()):
            step.test(tally, *batch_tensors(self, setup_, data.x, data.y, data.sample_weight, False))
        return loop.as_result(setup_, tally.logs(), return_dict)
