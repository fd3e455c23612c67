"""What the safety of loading costs: each of lstmkit's readers of files it did not write, timed
against the plain reader it replaces, interleaved in one process, ratios printed.

    python benchmarks/safe_loading.py

- an IMDB-sized object array of word-id lists (25,000 texts of 240 ids, 20 MB of pickle):
  `lstmkit.datasets._pickles.arrays_only_pickle` against `pickle.loads`;
- a Keras 3 `.weights.h5` of a 2-layer 128-unit LSTM model: `lstmkit.saving.hdf5.read` (forked
  worker, checks, arrays sent back) against h5py reading every dataset in this process;
- a 3,000-layer Keras functional graph listed in reverse: `model_from_json`, whose time must
  grow linearly (the 12,000-layer time is printed beside 4 x the 3,000-layer one).
"""

from __future__ import annotations

import io
import os
import pickle
import statistics
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np


def best(f, rounds=5):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def interleaved(a, b, rounds=5):
    ta, tb = [], []
    for _ in range(rounds):
        for f, out in ((a, ta), (b, tb)):
            start = time.perf_counter()
            f()
            out.append(time.perf_counter() - start)
    return statistics.median(ta), statistics.median(tb)


def pickles() -> None:
    from lstmkit.datasets._pickles import arrays_only_pickle

    rng = np.random.default_rng(0)
    texts = np.empty(25_000, dtype=object)
    for i in range(len(texts)):
        texts[i] = rng.integers(1, 80_000, size=240).tolist()
    raw = pickle.dumps(texts, protocol=3)
    ours, plain = interleaved(lambda: arrays_only_pickle(io.BytesIO(raw)), lambda: pickle.loads(raw))
    print(f"IMDB-sized pickle ({len(raw) / 1e6:.0f} MB): lstmkit {ours:.2f} s, pickle.loads {plain:.2f} s, "
          f"ratio {ours / plain:.2f}")


def hdf5_weights() -> None:
    import h5py
    import keras

    from lstmkit.saving import hdf5

    model = keras.Sequential([keras.Input((28, 28)), keras.layers.LSTM(128, return_sequences=True),
                              keras.layers.LSTM(128), keras.layers.Dense(10)])
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "w.weights.h5")
        model.save_weights(path)

        def plain() -> None:
            with h5py.File(path, "r") as f:
                f.visititems(lambda name, obj: obj[()] if isinstance(obj, h5py.Dataset) else None)

        ours, theirs = interleaved(lambda: hdf5.read(path, path), plain, rounds=11)
    print(f"Keras .weights.h5 of the seed model: lstmkit {ours * 1e3:.1f} ms, h5py in-process {theirs * 1e3:.1f} ms, "
          f"ratio {ours / theirs:.1f}")


def graphs() -> None:
    from lstmkit.models import model_from_json

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from test_large_graphs import keras_chain  # the graph the tests load: layers listed in reverse

    small, large = keras_chain(3_000), keras_chain(12_000)
    t_small, _ = best(lambda: model_from_json(small), rounds=3)
    t_large, _ = best(lambda: model_from_json(large), rounds=3)
    print(f"Keras graph, layers listed in reverse: 3,000 in {t_small:.2f} s, 12,000 in {t_large:.2f} s "
          f"({t_large / t_small:.1f} x for 4 x the layers)")


if __name__ == "__main__":
    pickles()
    hdf5_weights()
    graphs()
