"""Runs the seed MNIST program on Keras 3, as the comparison for lstmkit's accuracy.

Keras 3 refuses two things in the program as written, so this makes the smallest edits that let
it run there: `CuDNNLSTM(` becomes `LSTM(` and `Adam(lr=0.001, decay=1e-6)` becomes
`Adam(learning_rate=0.001)` (Keras 3 dropped `decay`; over 5,625 steps it changes the learning
rate by 0.6 %). `mnist.load_data()` reads lstmkit's shipped copy (Keras's arrays) because
Keras's own loader downloads. The first argument seeds Keras's generators.

    KERAS_BACKEND=torch python benchmarks/keras3_seed_program.py SEED [PROGRAM]

Needs the dev extra (Keras 3); prints what the program prints.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROGRAM = Path(__file__).resolve().parents[1].parent / "shared" / "seeds" / "mnist_lstm.py"


def keras3_source(source: str) -> str:
    edits = [
        ("from keras.layers import CuDNNLSTM, Dense, Dropout, LSTM", "from keras.layers import Dense, Dropout, LSTM"),
        ("CuDNNLSTM(", "LSTM("),
        ("Adam(lr=0.001, decay=1e-6)", "Adam(learning_rate=0.001)"),
        ("from keras.datasets import mnist", "from lstmkit.datasets import mnist"),
    ]
    for old, new in edits:
        if old not in source:
            raise SystemExit(f"the program does not contain {old!r}; this script knows the seed program only")
        source = source.replace(old, new)
    return source


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    seed = int(sys.argv[1])
    path = Path(sys.argv[2]) if len(sys.argv) > 2 else PROGRAM
    import keras

    keras.utils.set_random_seed(seed)
    exec(compile(keras3_source(path.read_text()), str(path), "exec"), {"__name__": "__main__"})


if __name__ == "__main__":
    main()
