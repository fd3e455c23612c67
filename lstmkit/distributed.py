"""Data-parallel training on torch.distributed: the process group, the DDP wrapper, the data
shards and the few collectives `fit` needs, in one place.

A run on N processes ("ranks") is PyTorch's own arrangement, nothing of lstmkit's making:

- The ranks are started by `torchrun` (or by `lstmkit RECIPE --nproc N`, which calls
  `torch.distributed.run`) and find each other through the environment it sets: MASTER_ADDR,
  MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK. `fit` opens the process group (gloo on CPU, nccl on
  CUDA) when nobody has yet.
- `fit` wraps the model in `DistributedDataParallel`. After each backward pass every gradient is
  averaged over the ranks (the fused kernels' too: they reach the parameters through autograd like
  any other op), so every rank applies the same update and the weights stay equal everywhere.
- `batch_size` keeps its Keras meaning, the *global* batch: each rank computes batch_size / N of
  it, and the averaged gradient is the gradient of the mean loss over the whole global batch. The
  same `batch_size` and learning rate on 1 or N ranks therefore train the same model.
- Data: pass p over the samples is ordered by `DistributedSampler`'s rule: a permutation drawn
  from a generator seeded with seed + p (the same seed on every rank), padded by repeating its
  start to a multiple of N, dealt round robin. Global batch k is then slice k of that order on
  any number of ranks (N dividing the sample count), which is what lets a checkpoint written by
  2 ranks resume on 1.
- Figures: each batch's loss and metric sums are added over the ranks before they reach the
  progress bar, the callbacks and the History, so every rank sees the same logs, and callbacks
  decide alike. Validation data are split across the ranks and their sums added likewise.
  `stop_training` is agreed after every batch (one rank stopping stops all). Values the host
  holds (that flag, the seed, the step count) are agreed over a gloo group beside an NCCL one,
  so agreeing on them does not make the host wait for the GPU's queue to drain.
- Only rank 0 prints progress and writes files: checkpoints, `model.save`, CSV logs, plots.

`evaluate` and `predict` outside `fit` stay local to each rank (every rank computes the whole
result; nothing waits on the other ranks), so code such as `if rank == 0: model.evaluate(...)`
cannot hang.
"""

from __future__ import annotations

import atexit
import inspect
import numbers
import os
import sys
from typing import Any, Sequence, cast

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data.distributed import DistributedSampler

MODES = ("auto", "ddp", None)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return int(value) if value is not None else default
    except ValueError:
        raise ValueError(f"The environment variable {name}={value!r} should be an integer (set by torchrun)") from None


def _group_ready() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank: from the process group, else torchrun's RANK, else 0."""
    return dist.get_rank() if _group_ready() else _env_int("RANK", 0)


def world_size() -> int:
    """The number of ranks: from the process group, else torchrun's WORLD_SIZE, else 1."""
    return dist.get_world_size() if _group_ready() else _env_int("WORLD_SIZE", 1)


def local_rank() -> int:
    """The rank among the processes of this machine (torchrun's LOCAL_RANK), else 0."""
    return _env_int("LOCAL_RANK", 0)


def launched() -> bool:
    """Whether this process was started as one rank of a group (by torchrun or `--nproc`)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_main_process() -> bool:
    """True on rank 0 and in a plain single process: the one that prints and writes files."""
    return rank() == 0


def wanted(distribute: str | None) -> bool:
    """Whether `fit(distribute=...)` trains data-parallel.

    "auto" (the default): when this process is one of several ranks (launched by torchrun, or a
    process group of more than one is open); "ddp": always, and an error outside a launch; None:
    never (each rank trains on its own).
    """
    if distribute not in MODES:
        raise ValueError(f"Expected distribute to be one of 'auto', 'ddp' or None, got distribute={distribute!r}")
    if distribute is None:
        return False
    if distribute == "ddp":
        if not (launched() or _group_ready()):
            raise ValueError(
                "distribute='ddp' needs this process to be one rank of a group: start the script with "
                "`torchrun --nproc-per-node N script.py` (or a recipe with `lstmkit RECIPE --nproc N`), "
                "or call torch.distributed.init_process_group first"
            )
        return True
    return world_size() > 1


def _close_group() -> None:
    if _group_ready():
        dist.destroy_process_group()


def ensure_process_group(device: torch.device) -> None:
    """Opens the default process group from torchrun's environment unless one is open:
    gloo for a model on the CPU, nccl for one on CUDA. It is closed when the process exits."""
    if _group_ready():
        return
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", init_method="env://")
    atexit.register(_close_group)


def host_group() -> Any:
    """The group that reduces the host's values: None (the default group) where that one takes
    CPU tensors (gloo, or a backend string giving gloo the CPU), else a gloo group over the same
    ranks, made once per default group. Every rank calls it at the same point (`Replicas`)."""
    global _host
    backend = str(dist.get_backend())
    if backend == "gloo" or "cpu:gloo" in backend:
        return None
    world = dist.group.WORLD
    if _host is None or _host[0] is not world:
        _host = (world, dist.new_group(backend="gloo"))
    return _host[1]


_host: tuple[Any, Any] | None = None  # (the default group, its gloo companion)


def shard_order(samples: int, world: int, rank_: int, shuffle: bool, seed: int, pass_index: int) -> torch.Tensor:
    """The sample indices rank `rank_` of `world` reads in pass `pass_index`: DistributedSampler's
    order (permuted by seed + pass when shuffling, padded to a multiple of `world`, dealt round
    robin). With world 1 it is simply the pass's permutation (or 0..samples-1).

    >>> shard_order(5, 2, 0, False, 0, 0).tolist(), shard_order(5, 2, 1, False, 0, 0).tolist()
    ([0, 2, 4], [1, 3, 0])
    """
    # the sampler needs only the length of what it samples
    sampler: DistributedSampler[int] = DistributedSampler(
        cast(Any, range(samples)), num_replicas=world, rank=rank_, shuffle=shuffle, seed=seed
    )
    sampler.set_epoch(pass_index)
    return torch.tensor(list(iter(sampler)), dtype=torch.long)


def split_evenly(samples: int, world: int, rank_: int) -> torch.Tensor:
    """Rank `rank_`'s share of `samples` for validation: every `world`-th sample, no padding (so
    the sums over the ranks count each sample once)."""
    return torch.arange(rank_, samples, world, dtype=torch.long)


class _ForwardWithMask(nn.Module):
    """What DDP wraps: the model's forward that also returns the output mask the loss needs."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Any, training: bool, logits: Any) -> Any:
        return self.model.run(x, training=training, logits=logits)  # type: ignore[operator]


class Replicas:
    """One `fit`'s view of the ranks: the DDP-wrapped forward and the collectives `fit` calls.

    Every method here that communicates must be called by all ranks in the same order; `fit`
    does so because every rank runs the same number of batches (the shards have equal length).
    """

    def __init__(self, model: nn.Module) -> None:
        device = next(model.parameters()).device
        if device.type == "cuda" and device.index != local_rank():
            raise ValueError(
                f"Under distribute='ddp' each rank's model must sit on its own GPU, cuda:{local_rank()} "
                f"(LOCAL_RANK) for this rank; the model is on {device}"
            )
        ensure_process_group(device)
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.device = device
        self.host = host_group()  # for the host's integers (None: the default group takes them)
        # DDP broadcasts rank 0's weights at construction: every rank starts from the same model.
        # The model has no buffers that training changes, so none are re-sent before each forward
        # (the argument saying so was renamed in torch 2.13).
        ddp_class = nn.parallel.DistributedDataParallel
        no_resend = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(ddp_class).parameters
                     else "broadcast_buffers")
        options: dict[str, Any] = {no_resend: False}
        self.ddp = ddp_class(
            _ForwardWithMask(model), device_ids=[device.index] if device.type == "cuda" else None, **options
        )

    def forward(self, x: Any, training: bool, logits: Any) -> Any:
        return self.ddp(x, training, logits)

    def close(self) -> None:
        """Drops the DDP wrapper (and its gradient hooks), so later steps outside `fit` are local."""
        del self.ddp

    def _reduce(self, tensor: torch.Tensor, op: Any = None) -> torch.Tensor:
        moved = tensor.to(self.device)
        dist.all_reduce(moved, op=dist.ReduceOp.SUM if op is None else op)
        return moved.to(tensor.device)

    def _agree(self, value: int, op: Any) -> int:
        """An integer of the host's reduced over the ranks on the host group: through NCCL it would
        be copied to the GPU and back, a read that waits for all the GPU has queued (after every
        batch: nothing of the next batch would be queued while the GPU works)."""
        tensor = torch.tensor([value], dtype=torch.long)
        dist.all_reduce(tensor, op=op, group=self.host)
        return int(tensor.item())

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The elementwise sum of `tensor` over the ranks (on the device: nothing is read)."""
        return self._reduce(tensor)

    def any(self, flag: bool) -> bool:
        """True on every rank when it is True on any."""
        return bool(self._agree(int(flag), dist.ReduceOp.MAX))

    def same(self, value: int) -> tuple[int, int]:
        """The smallest and largest of an integer over the ranks."""
        return self._agree(value, dist.ReduceOp.MIN), self._agree(value, dist.ReduceOp.MAX)

    def from_rank0(self, value: int) -> int:
        """Rank 0's integer, on every rank."""
        tensor = torch.tensor([value], dtype=torch.long)
        dist.broadcast(tensor, src=0, group=self.host)  # (src: a global rank, 0 in either group)
        return int(tensor.item())

    def gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Every rank's copy of a same-shaped tensor, in rank order."""
        moved = tensor.to(self.device)
        parts = [torch.empty_like(moved) for _ in range(self.world)]
        dist.all_gather(parts, moved)
        return [p.to(tensor.device) for p in parts]


def launch(nproc: int, argv: Sequence[str], module: str = "lstmkit") -> int:
    """Runs `python -m MODULE ARGV` as `nproc` ranks on this machine through torch.distributed.run
    (torchrun's own code: a rendezvous on a free loopback port, one process per rank, all stopped
    when one fails). Returns the exit status: 0 when every rank succeeded.

    Each rank gets OMP_NUM_THREADS = CPU cores / nproc (at least 1) unless it is set already.
    """
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    if isinstance(nproc, bool) or not isinstance(nproc, numbers.Integral) or nproc < 1:
        raise ValueError(f"Expected a positive number of processes, got nproc={nproc!r}")
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    options = torchrun.parse_args(["--standalone", f"--nproc-per-node={nproc}", "--module", module])
    # the command's own arguments are set after parsing, so torchrun's parser never reads them
    # (it would take `--nproc` for an abbreviation of its `--nproc-per-node`)
    options.training_script_args = list(argv)
    sys.stdout.flush()
    try:
        torchrun.run(options)
    except ChildFailedError:
        return 1
    return 0
