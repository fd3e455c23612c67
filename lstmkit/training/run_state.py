"""A training run's state beside the weights: what a checkpoint keeps to resume the run, and
putting it back. The fields are listed in `lstmkit.training.checkpoints`.

`snapshot` is taken the same way on every rank (but for the random generators: each rank's
torch generator state is gathered, on every rank); `restore` puts the run back where a
checkpoint left it, on any number of ranks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import distributed
from ..saving.weights import load_weights_into
from . import metrics as metrics_module
from .callbacks import Callback, CallbackList, ProgbarLogger
from .data import BatchStream, TorchData
from .model_file import load_optimizer_state


if TYPE_CHECKING:
    from .trainer import Trainer


@dataclass
class Saved:
    """A checkpoint read back: where it was, its header and tensors, and the run state."""

    path: str
    epoch: int
    step: int
    header: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    run: dict[str, Any]


def encode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON for `value`, its arrays moved into `tensors` as {"__tensor__": key}."""
    if isinstance(value, (np.ndarray, torch.Tensor)):
        key = f"state.{len([k for k in tensors if k.startswith('state.')])}"
        tensors[key] = torch.as_tensor(np.asarray(value) if isinstance(value, np.ndarray) else value).clone()
        return {"__tensor__": key, "numpy": isinstance(value, np.ndarray)}
    if isinstance(value, (list, tuple)):
        return [encode(v, tensors) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v, tensors) for k, v in value.items()}
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, dict) and "__tensor__" in value:
        tensor = tensors[value["__tensor__"]]
        return tensor.numpy() if value.get("numpy") else tensor
    if isinstance(value, list):
        return [decode(v, tensors) for v in value]
    if isinstance(value, dict):
        return {k: decode(v, tensors) for k, v in value.items()}
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
    if "cuda" in state and torch.cuda.is_available():  # a run resumed on fewer GPUs (or none) sets what it has
        for index, s in enumerate(state["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(torch.as_tensor(s, dtype=torch.uint8), index)


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


def stateful_callbacks(callback_list: CallbackList) -> dict[str, Callback]:
    """The callbacks whose state a checkpoint keeps, by position and class (not the progress bar)."""
    kept = [c for c in callback_list.callbacks if not isinstance(c, ProgbarLogger)]
    return {f"{i}:{type(c).__name__}": c for i, c in enumerate(kept)}


def snapshot(
    model: Trainer, fit_settings: dict[str, Any], callback_list: CallbackList, stream: BatchStream,
    trackers: metrics_module.Tally | None, replicas: distributed.Replicas | None,
) -> dict[str, Any]:
    """What a checkpoint keeps of the run."""
    if trackers is not None:
        trackers.settle()
    return {
        "fit": fit_settings,
        "stream": stream.state(),
        "rng": rng_state(),
        "torch_rng_by_rank": None if replicas is None else replicas.gather(torch.get_rng_state()),
        "trackers": None if trackers is None else {k: [t.total, t.count] for k, t in trackers.items()},
        "callbacks": {key: c.get_state() for key, c in stateful_callbacks(callback_list).items()},
        "stopped": bool(model.stop_training),
    }


def restore(
    model: Trainer, saved: Saved, fit_settings: dict[str, Any], callback_list: CallbackList, stream: BatchStream,
    trackers: metrics_module.Tally | None, replicas: distributed.Replicas | None,
    build_from_batch: Any,
) -> None:
    """Puts the run back where the checkpoint `saved` left it: the same global batches follow
    (rank r takes the generator state rank r had, when it had one). `build_from_batch(batch)`
    builds a model not yet built from a first batch of a Dataset."""
    run = saved.run
    if "seed" not in run["stream"]:
        raise ValueError(f"Cannot resume from {saved.path!r}: it was written by an older lstmkit, which kept the data order another way")
    if not model.built and isinstance(stream.data, TorchData):  # build from a first batch, drawing nothing
        with torch.random.fork_rng():
            build_from_batch(next(iter(stream.data.batches(stream.batch_size))))
    for key, value in fit_settings.items():
        if run["fit"].get(key) != value:
            raise ValueError(
                f"Cannot resume from {saved.path!r}: it was saved by a run with {key}={run['fit'].get(key)!r}, "
                f"this fit has {key}={value!r} (resume with the same data and settings, or use another checkpoint_dir)"
            )
    stateful = stateful_callbacks(callback_list)
    if set(stateful) != set(run["callbacks"]):
        raise ValueError(
            f"Cannot resume from {saved.path!r}: it was saved with the callbacks {sorted(run['callbacks'])}, "
            f"this fit has {sorted(stateful)}"
        )
    if trackers is not None and run["trackers"] is not None and set(run["trackers"]) != set(trackers):
        raise ValueError(f"Cannot resume from {saved.path!r}: it holds the running figures {sorted(run['trackers'])}, "
                         f"this fit computes {sorted(trackers)}")
    load_weights_into(model, saved.tensors, saved.path)
    if "optimizer_state" in saved.header:
        load_optimizer_state(model, saved.header, saved.tensors, saved.path)
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
    model.stop_training = bool(run["stopped"])
