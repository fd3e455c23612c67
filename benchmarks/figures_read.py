"""What reading the running figures after every batch costs `fit` (the seed program's model).

`fit` reads the loss and metrics back from the model's device only where something looks at
them: a callback with a per-batch hook, a redraw of the progress bar, the end of the epoch. A read
waits for the device, so on a GPU a read after every batch keeps the host from queueing the next
batch's work while the GPU computes this one. Two contenders, in interleaved rounds on random data
of MNIST's shape: `fit` as a program calls it (verbose=2, no callbacks), and the same fit with a
callback that looks at the logs after every batch (a read per batch, as lstmkit did before).
On the CPU there is nothing to overlap and the two should be level.

    python benchmarks/figures_read.py [--device cuda] [--batches 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import lstmkit
from lstmkit import callbacks
from lstmkit.layers import LSTM, Dense, Dropout
from lstmkit.models import Sequential


class LooksEveryBatch(callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        self.last = logs["loss"]


def seed_model() -> Sequential:
    model = Sequential([LSTM(128, input_shape=(28, 28), return_sequences=True), Dropout(0.2), LSTM(128),
                        Dense(64, activation="relu"), Dropout(0.2), Dense(10, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: lstmkit's choice)")
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.device:
        lstmkit.config.set_device(args.device)
    rng = np.random.default_rng(0)
    x = rng.random((32 * args.batches, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, size=len(x))
    model = seed_model()
    model.fit(x[:320], y[:320], batch_size=32, epochs=1, verbose=0)  # build, compile kernels, warm up
    times: dict[str, list[float]] = {"fit": [], "read every batch": []}
    for _ in range(args.rounds):
        for name, extra in (("fit", []), ("read every batch", [LooksEveryBatch()])):
            start = time.perf_counter()
            model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=extra)
            times[name].append(time.perf_counter() - start)
    print(f"seed model, {args.batches} batches of 32 on {model.device}, median of {args.rounds} interleaved rounds:")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"  {name:<18} {median * 1e3 / args.batches:7.2f} ms per batch")
    ratio = statistics.median(times["read every batch"]) / statistics.median(times["fit"])
    print(f"  a read after every batch costs {ratio:.2f}x")


if __name__ == "__main__":
    main()
