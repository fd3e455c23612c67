"""`lstmkit bench --peers`: lstmkit beside its peers on the same cases, each contender in a process of
its own — Keras 3 on TensorFlow, on JAX and on torch, `torch.nn.LSTM`/`GRU` — quiet and beside
busy processes, time and peak memory per training step.

Each measurement starts `python -m lstmkit.bench_peers --worker CONTENDER CASE STEPS` (one
framework per process, as Keras's backend is chosen at import): it builds the case's model,
runs warm-up training steps (two, and half a second at least: the steady state), returns the
memory they freed to the system (`malloc_trim`), then times `STEPS` steps (`train_on_batch` for
the Keras-like contenders, a plain loop for torch.nn) and reports the median time and the peak
resident memory above that point during them (Linux's `VmHWM`, reset first): what a training
step holds at its peak. Rounds are interleaved: every contender once per round, in turn. The
extra `bench` installs the peers (`tensorflow-cpu`, `jax`, `keras`).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class PeerCase:
    name: str
    x_shape: tuple[int, ...]  # batch first
    classes: int  # 0: a regression target of one value; -1: frames like the input's (binary cross-entropy)
    build: Callable[[Any], list[Any]]  # the layers, from a Keras-like `layers` module
    torch_nn: str | None  # the same model on torch.nn: "seed", "LSTM" or "GRU"; None where it has none


def _seed(L: Any) -> list[Any]:
    return [L.LSTM(128, return_sequences=True), L.Dropout(0.2), L.LSTM(128), L.Dense(64, activation="relu"),
            L.Dropout(0.2), L.Dense(10, activation="softmax")]


def _next_frame(L: Any) -> list[Any]:
    return [L.ConvLSTM2D(64, (5, 5), padding="same", return_sequences=True, activation="relu"),
            L.BatchNormalization(),
            L.ConvLSTM2D(64, (3, 3), padding="same", return_sequences=True, activation="relu"),
            L.BatchNormalization(),
            L.ConvLSTM2D(64, (1, 1), padding="same", return_sequences=True, activation="relu"),
            L.Conv3D(1, (3, 3, 3), activation="sigmoid", padding="same")]


CASES = [
    PeerCase("seed MNIST model, batch 32", (32, 28, 28), 10, _seed, "seed"),
    PeerCase("char model: LSTM(256), 100 steps, batch 64", (64, 100, 60), 60,
             lambda L: [L.LSTM(256), L.Dense(60, activation="softmax")], "LSTM"),
    # torch.nn's fused LSTM has no recurrent dropout
    PeerCase("LSTM(128) recurrent_dropout=0.2, batch 32", (32, 28, 28), 10,
             lambda L: [L.LSTM(128, recurrent_dropout=0.2), L.Dense(10, activation="softmax")], None),
    PeerCase("GRU(256), 1,000 steps, batch 64", (64, 1000, 8), 0, lambda L: [L.GRU(256), L.Dense(1)], "GRU"),
    PeerCase("ConvLSTM2D(32, 3x3), 10 frames of 40x40, batch 8", (8, 10, 40, 40, 1), 0,
             lambda L: [L.ConvLSTM2D(32, 3, padding="same"), L.GlobalAveragePooling2D(), L.Dense(1)], None),
    # keras.io's "Next-frame video prediction with convolutional LSTMs" (moving MNIST, 19 frames
    # of 64x64 in, the next frame of each out; batch 5), its model as the page builds it
    PeerCase("keras.io next-frame model: 3 ConvLSTM2D(64), 19 frames of 64x64, batch 5", (5, 19, 64, 64, 1), -1,
             _next_frame, None),
]

WARM_UP_S = 0.5  # lstmkit's thread governor, and the peers' own caches, settle within it

CONTENDERS = ["lstmkit", "Keras 3 / tensorflow", "Keras 3 / jax", "Keras 3 / torch", "torch.nn"]


def contenders_named(names: list[str]) -> list[str]:
    """The contenders for `--with`: lstmkit and each one named by its framework ("tensorflow",
    "jax", "torch" for Keras 3 on it; "torch.nn"), in the table's order."""
    short = {"tensorflow": "Keras 3 / tensorflow", "jax": "Keras 3 / jax", "torch": "Keras 3 / torch",
             "torch.nn": "torch.nn", "lstmkit": "lstmkit"}
    chosen = {"lstmkit"}
    for name in names:
        key = name.strip()
        if key not in short:
            raise ValueError(f"--with takes contenders among {', '.join(short)}, got {key!r}")
        chosen.add(short[key])
    return [c for c in CONTENDERS if c in chosen]


def _data(case: PeerCase) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random(case.x_shape, dtype=np.float32)
    if case.classes < 0:
        return x, rng.random(case.x_shape, dtype=np.float32)
    y = rng.integers(0, case.classes, case.x_shape[0]) if case.classes else rng.random((case.x_shape[0], 1), dtype=np.float32)
    return x, y


def _keras_like_step(contender: str, case: PeerCase) -> Callable[[], None]:
    layers: Any
    models: Any
    if contender == "lstmkit":
        from lstmkit import layers, models
    else:
        os.environ["KERAS_BACKEND"] = contender.rsplit("/ ", 1)[1]
        import keras
        layers, models = keras.layers, keras.models
    x, y = _data(case)
    model = models.Sequential([layers.Input(shape=case.x_shape[1:]), *case.build(layers)])
    loss = {-1: "binary_crossentropy", 0: "mse"}.get(case.classes, "sparse_categorical_crossentropy")
    model.compile(optimizer="adam", loss=loss)
    return lambda: model.train_on_batch(x, y)


def _torch_step(case: PeerCase) -> Callable[[], None] | None:
    import torch
    import torch.nn.functional as F
    from torch import nn

    if case.torch_nn is None:
        return None
    x, y = (torch.from_numpy(a) for a in _data(case))
    features = case.x_shape[-1]
    if case.torch_nn == "seed":
        net = nn.ModuleDict(dict(a=nn.LSTM(features, 128, batch_first=True), b=nn.LSTM(128, 128, batch_first=True),
                                            c=nn.Linear(128, 64), d=nn.Linear(64, 10)))

        def forward(v: torch.Tensor) -> torch.Tensor:
            h = F.dropout(net["a"](v)[0], 0.2, True)
            return net["d"](F.dropout(torch.relu(net["c"](net["b"](h)[0][:, -1])), 0.2, True))
    else:
        rnn = getattr(nn, case.torch_nn)(features, 256, batch_first=True)
        net = nn.ModuleDict(dict(rnn=rnn, out=nn.Linear(256, case.classes or 1)))

        def forward(v: torch.Tensor) -> torch.Tensor:
            return net["out"](net["rnn"](v)[0][:, -1])
    opt = torch.optim.Adam(net.parameters(), 1e-3)

    def step() -> None:
        opt.zero_grad()
        out = forward(x)
        (F.cross_entropy(out, y) if case.classes else F.mse_loss(out, y)).backward()
        opt.step()

    return step


def _memory_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _give_back_free_memory() -> None:
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def worker(contender: str, case_name: str, steps: int) -> dict[str, Any]:
    """One contender on one case in this process: median ms per training step; "mb", the peak a
    steady step adds to the resident size; "first_mb", the peak the first steps add to the size
    of the built model. A framework that keeps its memory between steps (TensorFlow does) shows
    little of its use in the first, which the second shows."""
    case = next(c for c in CASES if c.name == case_name)
    step = _torch_step(case) if contender == "torch.nn" else _keras_like_step(contender, case)
    if step is None:
        return {"ms": None, "mb": None, "first_mb": None}
    _give_back_free_memory()
    built = _memory_kb("VmRSS")
    _reset_peak()
    warm_until = time.monotonic() + WARM_UP_S
    step()
    step()
    while time.monotonic() < warm_until:  # two steps at least, and half a second: the steady state
        step()
    first = max(0, _memory_kb("VmHWM") - built) / 1024
    _give_back_free_memory()  # what the warm-up freed leaves the resident size, so a step's own use shows
    before = _memory_kb("VmRSS")
    _reset_peak()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    return {"ms": statistics.median(times), "mb": max(0, _memory_kb("VmHWM") - before) / 1024, "first_mb": first}


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM, the peak, to the present size
    except OSError:
        pass


def run(rounds: int = 2, steps: int = 3, load: tuple[int, ...] = (0, 1, 2), only: str | None = None,
        contenders: list[str] | None = None) -> int:
    """Prints the table: per case and load, each contender's ms per step, its ratio to lstmkit's,
    the peak memory a steady step added to the resident size, and the peak the first steps added
    to the built model's (see `worker`)."""
    chosen = contenders or CONTENDERS
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    for case in CASES:
        if only and only.lower() not in case.name.lower():
            continue
        for busy_count in load:
            busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy_count)]
            try:
                results: dict[str, list[dict[str, Any]]] = {c: [] for c in chosen}
                for _ in range(rounds):
                    for contender in chosen:
                        done = subprocess.run([sys.executable, "-m", "lstmkit.bench_peers", "--worker", contender, case.name,
                                               str(steps)], capture_output=True, text=True, env=env, timeout=1800)
                        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
                        results[contender].append(json.loads(lines[-1]) if done.returncode == 0 and lines else
                                                  {"ms": None, "mb": None, "first_mb": None,
                                                   "error": done.stderr.strip().splitlines()[-1:]})
            finally:
                for p in busy:
                    p.kill()
            print(f"{case.name}, {busy_count} busy process{'es' if busy_count != 1 else ''}", flush=True)
            print(f"  {'contender':<24}{'train ms':>10}{'x lstmkit':>11}{'peak MB':>9}{'first MB':>10}")
            base = _median([r["ms"] for r in results.get("lstmkit", [])])
            for contender, rs in results.items():
                ms, mb = _median([r["ms"] for r in rs]), _median([r["mb"] for r in rs])
                first = _median([r.get("first_mb") for r in rs])
                if ms is None:
                    reason = next((r.get("error") for r in rs if r.get("error")), None)
                    print(f"  {contender:<24}{'n/a':>10}{'n/a':>11}{'n/a':>9}{'n/a':>10}"
                          + (f"  ({reason[0][:60]})" if reason else ""))
                    continue
                ratio = f"{ms / base:.2f}" if base else "n/a"
                print(f"  {contender:<24}{ms:>10.1f}{ratio:>11}{mb:>9.0f}{first or 0:>10.0f}")
    return 0


def _median(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))), flush=True)
    else:
        sys.exit(run())
