"""Host time of the fused GPU path per layer call, measured without a GPU.

On a GPU the kernels run asynchronously: a small batch's training step takes as long as the host
takes to issue it, when that is longer than the GPU's work. At batch 32 the sequence kernel of a
128-unit layer is tens of microseconds of GPU time, so the Python and the torch calls around it
(the dispatch, the buffers, the input product, autograd) set the step's floor. This measures that
host share on the CPU: the GPU path (kernels/gpu, the sequence driver) runs on CPU tensors with
every Triton kernel launch replaced by a no-op, at a size where torch's own operators compute
next to nothing. Beside it, for scale, torch.nn's fused layer on the same tiny CPU tensors.

Printed per layer: microseconds per training call (forward and backward) and per inference call
(medians of interleaved rounds), Python function calls and torch operator calls per training call,
and of those operators the ones a GPU runs as a launch (not views, not bare allocations).
Then a whole training step of the seed model's shape (forward, loss, backward, optimizer, the
batch's figures), lstmkit's `fit` step beside the same step written in PyTorch.

With `--device cuda` (on a GPU machine; benchmarks/gpu_checks.sh runs it) the kernels are the real
ones on CUDA tensors, Triton's launcher included, and torch.nn.LSTM is cuDNN: the figure is then
the time to issue the calls (`calls` back to back, the GPU's queue not yet full), and beside it
the time until the GPU has finished them.

    python benchmarks/gpu_host_time.py [--rounds 7] [--calls 200] [--device cuda]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from typing import Any, Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from lstmkit.kernels import fused
from lstmkit.kernels.gpu import gru, loop, lstm, simple_rnn
from lstmkit.layers import GRU, LSTM, SimpleRNN

BATCH, STEPS, FEATURES, UNITS = 2, 28, 4, 8  # the seed program's 28 steps; tiny rows


class _NoLaunch:
    """Stands in for a Triton kernel: `kernel[grid](...)` does nothing."""

    def __getitem__(self, grid: Any) -> Callable[..., None]:
        return lambda *args, **kwargs: None


def stub_kernels() -> None:
    for module in (lstm, gru, simple_rnn):
        for name in ("_forward_kernel", "_backward_kernel", "_gates_kernel", "_reset_backward_kernel"):
            if hasattr(module, name):
                setattr(module, name, _NoLaunch())
    fused._force_triton = True  # CPU tensors take the GPU path


class _CountOps(TorchDispatchMode):
    """Counts torch's operators, and those that launch work on a GPU: not a view (a new shape over
    the same memory) nor a bare allocation."""

    ALLOCATIONS = frozenset({"empty", "new_empty", "empty_like", "empty_strided"})

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.launches = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.count += 1
        if not func.is_view and func.overloadpacket.__name__ not in self.ALLOCATIONS:
            self.launches += 1
        return func(*args, **(kwargs or {}))


def contenders(device: str = "cpu") -> dict[str, tuple[Callable[[], None], Callable[[], None]]]:
    """name -> (training call, inference call)."""
    x = torch.randn(BATCH, STEPS, FEATURES, device=device)
    found = {}
    for cls in (LSTM, GRU, SimpleRNN):
        layer = cls(UNITS, return_sequences=True, implementation="fused").to(device)
        layer(x)

        def train(layer: Any = layer) -> None:
            layer(x, training=True).sum().backward()

        def infer(layer: Any = layer) -> None:
            with torch.no_grad():
                layer(x)

        found[f"lstmkit {cls.__name__}, GPU path"] = (train, infer)
    module = torch.nn.LSTM(FEATURES, UNITS, batch_first=True).to(device)

    def torch_train() -> None:
        module(x)[0].sum().backward()

    def torch_infer() -> None:
        with torch.no_grad():
            module(x)

    found["torch.nn.LSTM (cuDNN)" if device == "cuda" else "torch.nn.LSTM (CPU)"] = (torch_train, torch_infer)
    found.update(training_steps(device))
    return found


def training_steps(device: str) -> dict[str, tuple[Callable[[], None], Callable[[], None]]]:
    """A whole training step of the seed model's shape (LSTM, Dropout, LSTM, Dense, softmax; Adam,
    crossentropy, accuracy): `fit`'s work for one batch already on the device (forward, loss,
    backward, optimizer, the figures left on the device), beside the same step written in PyTorch
    (torch.nn.LSTM, torch.optim.Adam with its multi-tensor update)."""
    from lstmkit.layers import Dense, Dropout
    from lstmkit.models import Sequential
    from lstmkit.training.inputs import batch_tensors
    from lstmkit.training.step import new_trackers

    x = torch.randn(BATCH, STEPS, FEATURES, device=device)
    y = torch.randint(0, 4, (BATCH,), device=device)
    model = Sequential([LSTM(UNITS, input_shape=(STEPS, FEATURES), return_sequences=True, implementation="fused"),
                        Dropout(0.2), LSTM(UNITS, implementation="fused"), Dense(4, activation="softmax")]).to(device)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    setup, step = model.require_compiled("fit")
    tensors = batch_tensors(model, setup, [x], [y], None, False)

    def lstmkit_step() -> None:
        step.train(new_trackers(setup), *tensors)

    def lstmkit_infer() -> None:
        with torch.no_grad():
            model(x)

    first, second = torch.nn.LSTM(FEATURES, UNITS, batch_first=True), torch.nn.LSTM(UNITS, UNITS, batch_first=True)
    head = torch.nn.Linear(UNITS, 4)
    modules = torch.nn.ModuleList([first, second, head]).to(device)
    optimizer = torch.optim.Adam(modules.parameters(), lr=1e-3, foreach=True)  # its default on a GPU

    def torch_forward() -> torch.Tensor:
        h = torch.nn.functional.dropout(first(x)[0], 0.2, training=modules.training)
        return head(second(h)[0][:, -1])

    def torch_step() -> None:
        logits = torch_forward()
        loss = torch.nn.functional.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        (logits.argmax(-1) == y).float().mean()  # the batch's accuracy, left on the device

    def torch_infer() -> None:
        with torch.no_grad():
            torch_forward()

    return {"lstmkit training step": (lstmkit_step, lstmkit_infer), "PyTorch training step": (torch_step, torch_infer)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200,
                        help="calls timed per round (on a GPU keep it under the queue's depth: 50)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="cpu: the kernels replaced by no-ops; cuda: the real kernels on a GPU")
    args = parser.parse_args()
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        raise SystemExit(f"gpu_host_time.py --device cuda: this torch sees no CUDA device (torch {torch.__version__})")
    torch.set_num_threads(1)
    if not cuda:
        stub_kernels()
    runs = contenders(args.device)
    times: dict[str, list[list[float]]] = {name: [[], [], []] for name in runs}  # train, infer, train until done
    with loop.driven_by("sequence"):
        for fns in runs.values():  # warm-up (compiles the kernels on a GPU)
            for fn in fns:
                for _ in range(20):
                    fn()
        for _ in range(args.rounds):
            for name, fns in runs.items():
                for i, fn in enumerate(fns):
                    if cuda:
                        torch.cuda.synchronize()
                    start = time.perf_counter()
                    for _ in range(args.calls):
                        fn()
                    times[name][i].append((time.perf_counter() - start) / args.calls * 1e6)
                    if cuda and i == 0:
                        torch.cuda.synchronize()
                        times[name][2].append((time.perf_counter() - start) / args.calls * 1e6)
        where = torch.cuda.get_device_name() if cuda else "1 thread, kernels as no-ops"
        print(f"torch {torch.__version__}, {where}; batch {BATCH}, {STEPS} steps, {UNITS} units; medians of "
              f"{args.rounds} interleaved rounds of {args.calls} calls")
        done = f"{'done us':>10}" if cuda else ""
        print(f"  {'':30}{'train us':>10}{done}{'infer us':>10}{'py calls':>10}{'torch ops':>10}{'launches':>10}")
        for name, (train, _) in runs.items():
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(10):
                train()
            profile.disable()
            calls = pstats.Stats(profile).total_calls // 10  # type: ignore[attr-defined]
            with _CountOps() as ops:
                train()
            finished = f"{statistics.median(times[name][2]):10.0f}" if cuda else ""
            print(f"  {name:30}{statistics.median(times[name][0]):10.0f}{finished}"
                  f"{statistics.median(times[name][1]):10.0f}{calls:10d}{ops.count:10d}{ops.launches:10d}")


if __name__ == "__main__":
    main()
