"""Runs the TensorFlow 2 tutorial programs in this folder under `lstmkit run`, under TensorFlow
itself (its Keras 3 on the TensorFlow backend) and under Keras 3 on torch (with TensorFlow
installed for the `tf.` functions), each in a fresh folder, and prints the documentation's table (docs/guide/keras-programs.md).

    python examples/tf_programs/check_all.py                # all three columns (tensorflow-cpu, from the dev extra)
    python examples/tf_programs/check_all.py --only char    # the programs whose name holds "char"

The programs are written here in the manner of tensorflow.org's, keras.io's, books' and courses'
recurrent tutorials, on small stand-in data they make themselves. Every fit trains one epoch in
every column (`lstmkit run --epochs 1`; for TensorFlow and Keras 3 the same override is put on
`keras.Model.fit`, as examples/keras_programs/check_all.py does). Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("keras_check_all", HERE.parent / "keras_programs" / "check_all.py")
assert _spec is not None and _spec.loader is not None
keras_check_all = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(keras_check_all)

WRITTEN_AFTER = {  # the kind of tutorial each one is written after, for the table
    "tf_bag_of_words": "Deep Learning with Python's bag-of-words: TextVectorization bigrams multi_hot / tf_idf, string Input",
    "tf_char_rnn": "tensorflow.org text generation: StringLookup, unicode_split, subclassed GRU model, tf.random.categorical",
    "tf_gradient_tape_loop": "a custom training loop: GradientTape, apply_gradients, stateful metrics, tf.function",
    "tf_image_augment_rnn": "an old program: np.float, keras.preprocessing.image, top-k accuracy, activations as functions",
    "tf_lookup_features": "StringLookup / IntegerLookup features, a dict dataset with an extra key",
    "tf_mixed_precision": "tensorflow.org mixed precision guide: a global policy, a float32 softmax, LossScaleOptimizer in a custom loop",
    "tf_padded_batch_generator": "variable-length sequences: from_generator with output_signature, padded_batch, mask_zero",
    "tf_seq2seq_zip": "a seq2seq reverser: Dataset.zip of encoder/decoder inputs, LSTM states passed on",
    "tf_tensor_ops_tour": "a TensorFlow-basics chapter: tensor functions, Variable, TensorArray, rfft, tf.config",
    "tf_text_classification": "tensorflow.org text classification: text_dataset_from_directory, TextVectorization, export model on raw strings",
    "tf_textline_csv": "TextLineDataset of a CSV, tf.strings parsing, filter, windows",
    "tf_timeseries_from_array": "keras.io weather forecasting: timeseries_dataset_from_array, ModelCheckpoint",
    "tf_window_forecast": "a course's forecasting: tf.data window/flat_map pipeline, Conv1D + LSTMs, Huber",
}
ENGINES = {"lstmkit": "torch", "tensorflow": "tensorflow", "keras3": "torch"}  # engine: KERAS_BACKEND


def run_one(name: str, engine: str, folder: pathlib.Path, timeout: int) -> tuple[bool, float, str]:
    program = HERE / f"{name}.py"
    env = {**os.environ, "KERAS_BACKEND": ENGINES[engine], "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    if engine == "lstmkit":
        command = [sys.executable, "-m", "lstmkit.cli", "run", "--epochs", "1", str(program)]
    else:
        command = [sys.executable, "-c", keras_check_all.KERAS_SHIM, str(program)]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, time.perf_counter() - start, f"over {timeout} s"
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return done.returncode == 0, time.perf_counter() - start, "" if done.returncode == 0 else (lines or [""])[-1][:160]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run the programs whose name contains this text")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per program run (default 900)")
    args = parser.parse_args(argv)
    names = sorted(p.stem for p in HERE.glob("tf_*.py") if args.only is None or args.only in p.stem)
    results: dict[tuple[str, str], tuple[bool, float, str]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for engine in ENGINES:
            for name in names:
                folder = pathlib.Path(scratch) / engine / name
                folder.mkdir(parents=True)
                results[(name, engine)] = ok, seconds, error = run_one(name, engine, folder, args.timeout)
                print(f"{name:28s} {engine:10s} {'ran' if ok else 'FAILED'} in {seconds:.0f} s {error}", flush=True)
    print()
    print("| program | written after | lstmkit run | TensorFlow 2.21 | Keras 3 (torch) |")
    print("|---|---|---|---|---|")
    for name in names:
        cells = []
        for engine in ENGINES:
            ok, _, error = results[(name, engine)]
            cells.append("runs" if ok else f"fails: {error.replace('|', '/')[:90]}")
        print(f"| `{name}.py` | {WRITTEN_AFTER.get(name, '')} | {' | '.join(cells)} |")
    for engine in ENGINES:
        print(f"{engine}: ran {sum(results[(n, engine)][0] for n in names)} of {len(names)}")
    return 0 if all(results[(n, "lstmkit")][0] for n in names) else 1


if __name__ == "__main__":
    sys.exit(main())
