"""The seed model's training step on a shared CPU: quiet, then beside one and two busy processes.

    python benchmarks/under_load.py [--steps 300]

Contenders, each trained for `--steps` batches of 32 per condition, in one process:
- lstmkit `fit`, its thread governor on (the default: torch's threads follow the free cores);
- lstmkit `fit` with `LSTMKIT_ADAPTIVE_THREADS=0` behaviour (the governor off);
- `torch.nn.LSTM` in a plain training loop (the same layers, Adam).
A busy process is `python -c "while True: pass"`. Printed: ms per step and each condition's
ratio to the contender's quiet step.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lstmkit import _threads
from lstmkit.layers import LSTM, Dense, Dropout
from lstmkit.models import Sequential


def lstmkit_contender(x: np.ndarray, y: np.ndarray, governed: bool):
    torch.manual_seed(0)
    model = Sequential([LSTM(128, input_shape=(28, 28), return_sequences=True), Dropout(0.2), LSTM(128),
                        Dense(64, activation="relu"), Dropout(0.2), Dense(10, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")

    def run() -> None:
        previous = os.environ.get("LSTMKIT_ADAPTIVE_THREADS")
        os.environ["LSTMKIT_ADAPTIVE_THREADS"] = "1" if governed else "0"
        try:
            model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        finally:
            if previous is None:
                del os.environ["LSTMKIT_ADAPTIVE_THREADS"]
            else:
                os.environ["LSTMKIT_ADAPTIVE_THREADS"] = previous

    return run


class _TorchNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm1, self.lstm2 = nn.LSTM(28, 128, batch_first=True), nn.LSTM(128, 128, batch_first=True)
        self.dense, self.out = nn.Linear(128, 64), nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.dropout(self.lstm1(x)[0], 0.2, self.training)
        h = self.lstm2(h)[0][:, -1]
        return self.out(F.dropout(torch.relu(self.dense(h)), 0.2, self.training))


def torch_contender(x: np.ndarray, y: np.ndarray):
    torch.manual_seed(0)
    net = _TorchNet()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def run() -> None:
        for i in range(0, len(xt), 32):
            opt.zero_grad()
            F.cross_entropy(net(xt[i:i + 32]), yt[i:i + 32]).backward()
            opt.step()

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    if not _threads.ThreadGovernor().enabled:
        print("the thread governor is off here (OMP_NUM_THREADS or MKL_NUM_THREADS set, or not Linux)")
    rng = np.random.default_rng(0)
    x = rng.random((32 * args.steps, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    contenders = {"lstmkit fit": lstmkit_contender(x, y, True), "lstmkit fit, governor off": lstmkit_contender(x, y, False),
                  "torch.nn.LSTM loop": torch_contender(x, y)}
    for run in contenders.values():
        run()  # warm up (and build the kernels)
    results: dict[str, dict[str, float]] = {name: {} for name in contenders}
    busy: list[subprocess.Popen] = []
    try:
        for load in range(3):
            while len(busy) < load:
                busy.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
            time.sleep(0.5)
            for name, run in contenders.items():
                start = time.perf_counter()
                run()
                results[name][f"{load} busy"] = (time.perf_counter() - start) / args.steps * 1e3
    finally:
        for p in busy:
            p.kill()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads on {len(os.sched_getaffinity(0))} cores; "
          f"ms per training step of 32 (seed model), {args.steps} steps per condition")
    print(f"{'contender':<28}{'quiet':>8}{'1 busy':>8}{'x quiet':>9}{'2 busy':>8}{'x quiet':>9}")
    for name, r in results.items():
        q = r["0 busy"]
        print(f"{name:<28}{q:>8.2f}{r['1 busy']:>8.2f}{r['1 busy'] / q:>9.2f}{r['2 busy']:>8.2f}{r['2 busy'] / q:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
