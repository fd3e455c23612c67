"""Runs the classic Keras recurrent programs in this folder under `lstmkit run` and under real
Keras 3 (torch backend), each in a fresh folder with its downloads faked in Keras's cache, and
prints a table of which ran to the end.

    python examples/keras_programs/check_all.py              # both columns (Keras 3 must be installed)
    python examples/keras_programs/check_all.py --no-keras   # lstmkit only
    python examples/keras_programs/check_all.py --only imdb  # the programs whose name holds "imdb"

The programs are written here in the manner of the Keras 2 repository's examples (k2_*),
keras.io's recurrent examples (io_*), tf.keras blog programs (tfk_*) and Keras 2 blog tutorials
(blog_*): the same Keras calls
and model shapes, on small stand-in data. Every fit trains one epoch in both columns
(`lstmkit run --epochs 1`; for Keras 3 the same override is put on `keras.Model.fit`), and
Keras 3's hash check of cached files is bypassed, as the stand-in files are not the published
ones. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
# programs that read what an earlier one wrote run after it, in its folder
AFTER = {"k2_lstm_seq2seq_restore": "k2_lstm_seq2seq"}
CLASSIC = {  # the program each one is written after, for the table
    "io_addition_rnn": "keras.io: Sequence to sequence learning for performing number addition",
    "io_bidirectional_lstm_imdb": "keras.io: Bidirectional LSTM on IMDB",
    "io_conv_lstm": "keras.io: Next-frame video prediction with Convolutional LSTMs",
    "io_lstm_seq2seq": "keras.io: Character-level recurrent sequence-to-sequence model",
    "io_text_generation": "keras.io: Character-level text generation with LSTM",
    "k2_addition_rnn": "Keras 2 examples/addition_rnn.py",
    "k2_conv_lstm": "Keras 2 examples/conv_lstm.py",
    "k2_imdb_bidirectional_lstm": "Keras 2 examples/imdb_bidirectional_lstm.py",
    "k2_imdb_cnn": "Keras 2 examples/imdb_cnn.py",
    "k2_imdb_cnn_lstm": "Keras 2 examples/imdb_cnn_lstm.py",
    "k2_imdb_fasttext": "Keras 2 examples/imdb_fasttext.py",
    "k2_imdb_lstm": "Keras 2 examples/imdb_lstm.py",
    "k2_lstm_seq2seq": "Keras 2 examples/lstm_seq2seq.py",
    "k2_lstm_seq2seq_restore": "Keras 2 examples/lstm_seq2seq_restore.py",
    "k2_lstm_text_generation": "Keras 2 examples/lstm_text_generation.py",
    "k2_mnist_hierarchical_rnn": "Keras 2 examples/mnist_hierarchical_rnn.py",
    "k2_mnist_irnn": "Keras 2 examples/mnist_irnn.py",
    "k2_reuters_mlp": "Keras 2 examples/reuters_mlp.py",
    "tfk_sine_forecast": "a tf.keras blog program: stacked LSTMs on a sine wave, ModelCheckpoint to .h5",
    "tfk_attention_seq2seq": "a tf.keras blog program: encoder-decoder with AdditiveAttention and Attention",
    "io_working_with_rnns": "keras.io guide: Working with RNNs (states, RNN(LSTMCell), a cell of one's own)",
    "blog_timeseries_generator": "Keras 2 blog tutorials: TimeseriesGenerator with fit_generator",
    "blog_glove_embeddings": "Keras 2 blog programs: pre-trained GloVe vectors in a frozen Embedding",
}
KERAS_SHIM = """
import os, runpy, sys
import keras
import keras.src.utils.file_utils as file_utils
file_utils.validate_file = lambda *args, **kwargs: True  # the stand-in files are not the published ones
fit = keras.Model.fit
def one_epoch(self, *args, **kwargs):  # what `lstmkit run --epochs 1` does
    if len(args) > 3:
        args = args[:3] + (1,) + args[4:]
    else:
        kwargs["epochs"] = 1
    return fit(self, *args, **kwargs)
keras.Model.fit = one_epoch
sys.argv = [sys.argv[1]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _texts(rng: np.random.Generator, n: int, vocabulary: int, positive: np.ndarray | None = None) -> np.ndarray:
    out = np.empty(n, dtype=object)
    for i in range(n):
        words = rng.zipf(1.3, rng.integers(20, 300)) % vocabulary + 1
        if positive is not None:  # a few words that say the label
            words[rng.integers(0, len(words), 5)] = 10 + positive[i]
        out[i] = [int(w) for w in words]
    return out


def make_cache(home: pathlib.Path) -> None:
    """Stand-ins, in Keras's formats, for the files these programs download."""
    import lstmkit.datasets.shakespeare as shakespeare
    from lstmkit.datasets import _files

    rng = np.random.default_rng(0)
    folder = home / "datasets"
    folder.mkdir(parents=True)
    y_train, y_test = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    np.savez(folder / "imdb.npz", x_train=_texts(rng, 300, 6000, y_train), y_train=y_train,
             x_test=_texts(rng, 300, 6000, y_test), y_test=y_test)
    topics = rng.integers(0, 46, 500)
    np.savez(folder / "reuters.npz", x=_texts(rng, 500, 3000, topics), y=topics)
    (folder / "nietzsche.txt").write_text(shakespeare.load_text()[:6000], encoding="utf-8")
    shutil.copy(_files.DATA_DIR / "mnist.npz", folder / "mnist.npz")
    clips = np.zeros((20, 40, 16, 16), dtype=np.uint8)
    for clip in range(40):
        r, c, dr, dc = *rng.integers(2, 12, 2), *rng.integers(-1, 2, 2)
        for t in range(20):
            rr, cc = int(np.clip(r + dr * t, 0, 13)), int(np.clip(c + dc * t, 0, 13))
            clips[t, clip, rr:rr + 3, cc:cc + 3] = 255
    np.save(folder / "moving_mnist.npy", clips)
    words = sorted({w for line in shakespeare.load_text()[:200_000].lower().split() for w in [line.strip(".,;:!?'\"")] if w})
    with zipfile.ZipFile(folder / "glove.6B.zip", "w") as z:
        z.writestr("glove.6B.50d.txt", "".join(f"{w} " + " ".join(f"{v:.4f}" for v in rng.normal(size=50)) + "\n"
                                               for w in words[:3000]))
    (folder / "imdb_word_index.json").write_text(json.dumps({w: i + 1 for i, w in enumerate(words[:6000])}))
    with zipfile.ZipFile(folder / "fra-eng.zip", "w") as z:
        z.writestr("fra.txt", _pairs(rng))
        z.writestr("_about.txt", "stand-in sentence pairs")


def _pairs(rng: np.random.Generator) -> str:
    english = ["go", "run", "stop", "wait", "help", "hello", "thanks", "come", "eat", "sleep"]
    french = ["va", "cours", "arrete", "attends", "aide", "salut", "merci", "viens", "mange", "dors"]
    lines = []
    for _ in range(300):
        picks = rng.integers(0, len(english), rng.integers(1, 3))
        lines.append(" ".join(english[i] for i in picks).capitalize() + ".\t" +
                     " ".join(french[i] for i in picks).capitalize() + " !\tCC-BY 2.0 (France) stand-in")
    return "\n".join(lines) + "\n"


def run_one(name: str, engine: str, folder: pathlib.Path, home: pathlib.Path, timeout: int) -> tuple[bool, float, str]:
    program = HERE / f"{name}.py"
    env = {**os.environ, "KERAS_HOME": str(home), "KERAS_BACKEND": "torch", "PYTHONUNBUFFERED": "1",
           "MPLBACKEND": "Agg"}
    if engine == "lstmkit":
        command = [sys.executable, "-m", "lstmkit.cli", "run", "--epochs", "1", str(program)]
    else:
        command = [sys.executable, "-c", KERAS_SHIM, str(program)]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, time.perf_counter() - start, f"over {timeout} s"
    seconds = time.perf_counter() - start
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return done.returncode == 0, seconds, "" if done.returncode == 0 else last[:160]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run the programs whose name contains this text")
    parser.add_argument("--no-keras", action="store_true", help="leave out the Keras 3 column")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per program run (default 900)")
    args = parser.parse_args(argv)
    names = sorted(p.stem for p in HERE.glob("*.py") if p.stem != "check_all")
    if args.only:
        wanted = {n for n in names if args.only in n}
        wanted |= {AFTER[n] for n in wanted if n in AFTER}
        names = [n for n in names if n in wanted]
    names.sort(key=lambda n: (AFTER.get(n, n), n in AFTER))  # each program before those that follow it
    engines = ["lstmkit"] + ([] if args.no_keras else ["keras3"])
    results: dict[tuple[str, str], tuple[bool, float, str]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        root = pathlib.Path(scratch)
        for engine in engines:
            home = root / engine / "keras_home"
            make_cache(home)
            for name in names:
                folder = root / engine / AFTER.get(name, name)
                if not folder.exists():
                    folder.mkdir(parents=True)
                    (folder / "fra-eng").mkdir()
                    with zipfile.ZipFile(home / "datasets" / "fra-eng.zip") as z:
                        (folder / "fra-eng" / "fra.txt").write_bytes(z.read("fra.txt"))
                results[(name, engine)] = run_one(name, engine, folder, home, args.timeout)
                ok, seconds, error = results[(name, engine)]
                print(f"{name:32s} {engine:8s} {'ran' if ok else 'FAILED'} in {seconds:.0f} s {error}", flush=True)
    print()
    print("| program | written after | lstmkit run | Keras 3 |")
    print("|---|---|---|---|")
    for name in names:
        origin = CLASSIC.get(name, "")
        cells = []
        for engine in ("lstmkit", "keras3"):
            if (name, engine) not in results:
                cells.append("not run")
                continue
            ok, _, error = results[(name, engine)]
            cells.append("runs" if ok else f"fails: {error.replace('|', '/')[:90]}")
        print(f"| `{name}.py` | {origin} | {cells[0]} | {cells[1]} |")
    failed = [name for name in names if not results[(name, "lstmkit")][0]]
    print(f"\nlstmkit ran {len(names) - len(failed)} of {len(names)}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    if not args.no_keras:
        keras_ok = sum(results[(name, "keras3")][0] for name in names)
        print(f"Keras 3 ran {keras_ok} of {len(names)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
