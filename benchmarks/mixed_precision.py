"""Training steps under Keras's dtype policies, side by side in one process: float32 against
mixed_bfloat16 (and mixed_float16 with `--float16`), interleaved rounds, medians and ratios.

    python benchmarks/mixed_precision.py [--rounds 5] [--steps 5] [--float16] [--device cuda]

Cases: the seed model (LSTM 128 x2, Dense 64, softmax; 28 steps of 28) at batch 32 and 256, a
character model (LSTM 512 over 100 steps of 64, batch 64) and GRU(256) x2 over 200 steps of 128 at
batch 128. On a CPU with bfloat16 matrix units (AMX, AVX-512 BF16) the recurrent layers' input
product is where bfloat16 gains; the time loop stays float32 (lstmkit.mixed_precision).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import lstmkit.layers as L
from lstmkit import config, mixed_precision
from lstmkit.models import Sequential

CASES = {
    "seed b32": (lambda: [L.LSTM(128, return_sequences=True), L.Dropout(0.2), L.LSTM(128), L.Dense(64, activation="relu"),
                          L.Dense(10, activation="softmax")], (28, 28), 32, 10),
    "seed b256": (lambda: [L.LSTM(128, return_sequences=True), L.Dropout(0.2), L.LSTM(128),
                           L.Dense(64, activation="relu"), L.Dense(10, activation="softmax")], (28, 28), 256, 10),
    "char LSTM(512)": (lambda: [L.LSTM(512), L.Dense(64, activation="softmax")], (100, 64), 64, 64),
    "GRU(256) x2": (lambda: [L.GRU(256, return_sequences=True), L.GRU(256), L.Dense(10, activation="softmax")],
                    (200, 128), 128, 10),
}


def build(case: str, policy: str, device: torch.device) -> Sequential:
    layers, shape, _, _ = CASES[case]
    mixed_precision.set_global_policy(policy)
    try:
        torch.manual_seed(0)
        model = Sequential([L.Input(shape=shape), *layers()])
        model.compile("adam", "sparse_categorical_crossentropy")
    finally:
        mixed_precision.set_global_policy("float32")
    return model.to(device)


def step_seconds(model: Sequential, x: np.ndarray, y: np.ndarray, steps: int, device: torch.device) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--float16", action="store_true", help="also mixed_float16 (slow on CPUs)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: lstmkit's rule)")
    parser.add_argument("--only", default=None, help="cases whose name contains this")
    args = parser.parse_args()
    device = config.parse_device(args.device, "--device") or config.current_device()
    policies = ["float32", "mixed_bfloat16"] + (["mixed_float16"] if args.float16 else [])
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"median of {args.rounds} interleaved rounds of {args.steps} steps")
    for case, (_, shape, batch, classes) in CASES.items():
        if args.only and args.only not in case:
            continue
        rng = np.random.default_rng(0)
        x = rng.normal(size=(batch, *shape)).astype("float32")
        y = rng.integers(0, classes, batch)
        models = {p: build(case, p, device) for p in policies}
        for model in models.values():
            step_seconds(model, x, y, 2, device)  # warm-up: kernels, allocator
        times: dict[str, list[float]] = {p: [] for p in policies}
        for _ in range(args.rounds):
            for p, model in models.items():
                times[p].append(step_seconds(model, x, y, args.steps, device))
        base = statistics.median(times["float32"])
        row = ", ".join(f"{p} {statistics.median(t) * 1e3:.1f} ms ({base / statistics.median(t):.2f}x)"
                        for p, t in times.items())
        print(f"{case:16s} {row}")


if __name__ == "__main__":
    main()
