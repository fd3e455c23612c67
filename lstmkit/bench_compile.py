"""`lstmkit bench --compile`: a model under `torch.compile` beside the same model run eagerly.

A PyTorch user's training step (forward, cross-entropy, backward, Adam) and a batch's inference
(no gradient), in this process, eager and compiled (the default inductor backend) interleaved
round by round; the median ms and the compiled/eager ratio. Under compilation the recurrent
layers run as graph operators (kernels/ops.py), whose backward runs each forward again: the
training ratio shows that cost beside what inductor gains on the layers around them.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch


@dataclass(frozen=True)
class CompileCase:
    name: str
    x_shape: tuple[int, ...]  # batch first
    classes: int
    build: Callable[[Any], list[Any]]


CASES = [
    CompileCase("seed model: LSTM(128) x2, 28 steps, batch 32", (32, 28, 28), 10,
                lambda L: [L.LSTM(128, return_sequences=True), L.Dropout(0.2), L.LSTM(128),
                           L.Dense(64, activation="relu"), L.Dropout(0.2), L.Dense(10)]),
    CompileCase("char model: LSTM(256), 100 steps, batch 64", (64, 100, 60), 60, lambda L: [L.LSTM(256), L.Dense(60)]),
    CompileCase("GRU(128) x2, 50 steps, batch 32", (32, 50, 16), 4,
                lambda L: [L.GRU(128, return_sequences=True), L.GRU(128), L.Dense(4)]),
]


def _timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def bench_case(case: CompileCase, rounds: int, steps: int) -> dict[str, float]:
    """Median ms of eager and compiled training steps and inference batches."""
    from . import layers
    from .models import Sequential

    L: Any = layers  # Input's symbolic tensor goes first in the list, as Keras programs write it

    torch.manual_seed(0)
    x = torch.randn(case.x_shape)
    y = torch.randint(0, case.classes, (case.x_shape[0],))
    runs: dict[str, Callable[[], None]] = {}
    for label in ("eager", "compiled"):
        torch.manual_seed(1)
        model = Sequential([L.Input(case.x_shape[1:]), *case.build(L)])
        forward: Any = torch.compile(model) if label == "compiled" else model
        opt = torch.optim.Adam(model.parameters(), 1e-3)

        def train(model: Any = model, forward: Any = forward, opt: Any = opt) -> None:
            model.train()
            opt.zero_grad()
            torch.nn.functional.cross_entropy(forward(x), y).backward()
            opt.step()

        def infer(model: Any = model, forward: Any = forward) -> None:
            model.eval()
            with torch.no_grad():
                forward(x)

        runs[f"{label} train"], runs[f"{label} infer"] = train, infer
    return interleaved(runs, rounds, steps)  # (the first calls compile)


def interleaved(runs: dict[str, Callable[[], Any]], rounds: int, steps: int) -> dict[str, float]:
    """Median ms of each run: two warm-up calls each, then `rounds` rounds in which every run is
    timed `steps` times in turn (its median for the round); the median over the rounds."""
    for run in runs.values():
        run()
        run()
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for key, run in runs.items():
            times[key].append(statistics.median(_timed(run) for _ in range(steps)))
    return {k: statistics.median(v) for k, v in times.items()}


def run(rounds: int = 5, steps: int = 5, only: str | None = None) -> int:
    for case in CASES:
        if only and only.lower() not in case.name.lower():
            continue
        ms = bench_case(case, rounds, steps)
        print(case.name)
        print(f"  {'':10s}{'eager ms':>10s}{'compiled ms':>13s}{'compiled/eager':>16s}")
        for kind in ("train", "infer"):
            eager, compiled = ms[f"eager {kind}"], ms[f"compiled {kind}"]
            print(f"  {kind:10s}{eager:10.2f}{compiled:13.2f}{compiled / eager:16.2f}")
    return 0
