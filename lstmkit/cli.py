"""The `lstmkit` command: `lstmkit mnist`, `text`, `generate`, `sentiment`, `predict`, `forecast`
(the recipes), `lstmkit run PROGRAM` (a Keras program on lstmkit) and `lstmkit bench`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

from . import distributed
from ._version import __version__


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="lstmkit",
        description="Train LSTM networks from the classic Keras tutorials, on PyTorch, offline.",
    )
    top.add_argument("--version", action="version", version=f"lstmkit {__version__}")
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    mnist = commands.add_parser(
        "mnist",
        help="train the tutorial's two-layer LSTM on MNIST and report test accuracy",
        description="Trains the seed tutorial's MNIST classifier (CuDNNLSTM 128 x2, Dense 64, Dense 10) "
        "on the 60,000 training images, validating on the 10,000 test images after each epoch, then "
        "prints the test loss and accuracy and the time per epoch.",
    )
    mnist.add_argument("--epochs", type=_positive, default=3, help="passes over the training images (default 3)")
    mnist.add_argument("--batch-size", type=_positive, default=32, help="images per step (default 32)")
    mnist.add_argument("--limit", type=_positive, help="use only the first N training and test images (a quick check)")
    mnist.add_argument("--device", default=None,
                       help="cpu or cuda[:N]: where the model trains (default: as Keras, the first GPU torch sees, else "
                            "the CPU; $LSTMKIT_DEVICE sets it too)")
    _recipe_options(mnist)
    run = commands.add_parser(
        "run",
        help="run a Keras program on lstmkit (`keras` and `tensorflow.keras` imports give lstmkit; the file is not changed)",
        description="Runs PROGRAM with an import hook on: `import keras`, `from keras.layers import LSTM`, Keras 2's "
        "module paths (keras.layers.recurrent, keras.utils.np_utils, ...) and `tensorflow.keras` give lstmkit's "
        "modules; nothing in the program's text changes.",
    )
    run.add_argument("--seed", type=int, help="seed the random generators before the program starts, for a repeatable run")
    run.add_argument("--epochs", type=_positive, help="train every fit() call of the program for N epochs, whatever it "
                     "asks (a quick try of a long tutorial)")
    _nproc_option(run)
    run.add_argument("program", help="the Python file to run")
    run.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed on to the program")
    bench = commands.add_parser(
        "bench",
        help="time lstmkit's fused and reference paths against torch.nn.LSTM and an LSTMCell loop",
        description="Runs each benchmark case's contenders side by side in this process, interleaved, "
        "and prints ms per training step and per inference batch, peak memory and the ratios to the "
        "fused path (see lstmkit/bench.py).",
    )
    bench.add_argument("--rounds", type=_positive, help="interleaved rounds; the median is reported (default 7; 2 with --peers)")
    bench.add_argument("--steps", type=_positive, help="steps timed per round (default 5; 3 with --peers)")
    bench.add_argument("--peers", action="store_true",
                       help="lstmkit beside Keras 3 on TensorFlow, JAX and torch and torch.nn, each in a process of its own, "
                       "with peak memory (pip install 'lstmkit[bench]'; see lstmkit/bench_peers.py)")
    bench.add_argument("--load", default="0,1,2", metavar="N,N,...",
                       help="with --peers: the numbers of busy processes to run each case beside (default 0,1,2)")
    bench.add_argument("--only", metavar="TEXT", help="run only the cases whose name contains TEXT")
    bench.add_argument("--with", dest="contenders", metavar="NAME,NAME,...",
                       help="with --peers: only these contenders (lstmkit always): tensorflow, jax, torch, torch.nn")
    bench.add_argument("--compile", action="store_true",
                       help="a model under torch.compile beside the same model run eagerly: training step and inference "
                       "(see lstmkit/bench_compile.py)")
    bench.add_argument("--onnx", action="store_true",
                       help="inference latency of the exported model in onnxruntime beside lstmkit's predict, batch 1 and 32 "
                       "(see lstmkit/bench_serving.py)")
    bench.add_argument("--quick", action="store_true", help="tiny shapes: checks that every contender runs, times nothing useful")
    bench.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]: where every contender runs")
    forecast = commands.add_parser(
        "forecast",
        help="forecast a time series one step ahead with an LSTM, against the naive baselines",
        description="Trains an LSTM on windows of a series (airline, sunspots or a CSV file whose rows end "
        "in the value), forecasts the test period one step ahead and prints its RMSE next to the naive "
        "and seasonal-naive baselines' (see lstmkit/recipes/forecast.py).",
    )
    forecast.add_argument("--series", default="airline", help="airline (default), sunspots or FILE.csv")
    forecast.add_argument("--lookback", type=_positive, help="past values the LSTM reads (default: the season, at least 6)")
    forecast.add_argument("--test-size", type=_positive, help="points in the test period (default: two seasons, at least 12)")
    forecast.add_argument("--season", type=_positive, help="season length, the differencing lag (airline 12, sunspots 11, CSV 1)")
    forecast.add_argument("--epochs", type=_positive, default=150, help="passes over the training windows (default 150)")
    forecast.add_argument("--units", type=_positive, default=32, help="LSTM units (default 32)")
    _recipe_options(forecast)
    forecast.add_argument("--forecast-plot", metavar="PATH.png", help="plot the forecast against the actual series")
    text = commands.add_parser(
        "text",
        help="train the tutorial's character model (LSTM 256) on Shakespeare or a text file; report bits per character",
        description="Trains LSTM(256), Dropout(0.2), Dense(softmax) to predict the next character from the "
        "previous 100 on the first --chars characters of the corpus (90 %% training, 10 %% validation), "
        "prints the validation loss in bits per character next to the unigram entropy, and a sample "
        "(see lstmkit/recipes/text.py). `lstmkit generate` samples from the saved model.",
    )
    text.add_argument("--corpus", default="shakespeare", help="shakespeare (default) or FILE.txt (UTF-8)")
    text.add_argument("--chars", type=_positive, default=500_000, help="use the first N characters of the corpus (default 500000)")
    text.add_argument("--length", type=_positive, default=100, help="characters per training window (default 100)")
    text.add_argument("--units", type=_positive, default=256, help="LSTM units (default 256)")
    text.add_argument("--epochs", type=_positive, default=12, help="epochs (default 12)")
    text.add_argument("--steps-per-epoch", type=_positive, default=100, help="batches of random windows per epoch (default 100)")
    text.add_argument("--batch-size", type=_positive, default=64, help="windows per batch (default 64)")
    _recipe_options(text, save="text.lstmkit")
    generate = commands.add_parser(
        "generate",
        help="sample text from a model saved by `lstmkit text`",
        description="Samples LENGTH characters one at a time after the prompt, each from the model's "
        "probabilities given the last 100 characters, sharpened or flattened by the temperature. "
        "The same --seed gives the same text.",
    )
    generate.add_argument("model", help="a file written by `lstmkit text --save`")
    generate.add_argument("--prompt", required=True, help="the text to continue")
    generate.add_argument("--length", type=_positive, default=400, help="characters to generate (default 400)")
    generate.add_argument("--temperature", type=_positive_float, default=1.0,
                          help="below 1: safer, more repetitive text; above 1: more surprising (default 1.0)")
    generate.add_argument("--seed", type=int, help="seed the sampling, for a repeatable text")
    sentiment = commands.add_parser(
        "sentiment",
        help="train Embedding + LSTM on the movie-review sentences; report test accuracy and the majority baseline",
        description="Trains Embedding(64, masked) + LSTM(64) + Dense(sigmoid) on the 8,457 training sentences "
        "(a tenth held out to pick the epoch) and prints the accuracy on the 2,111 test sentences next "
        "to the majority-class baseline (see lstmkit/recipes/sentiment.py). `lstmkit predict` uses the saved model.",
    )
    sentiment.add_argument("--epochs", type=_positive, default=10, help="at most this many epochs (default 10; stops early)")
    sentiment.add_argument("--batch-size", type=_positive, default=32, help="sentences per batch (default 32)")
    sentiment.add_argument("--num-words", type=_positive, default=10_000, help="vocabulary size (default 10000)")
    sentiment.add_argument("--maxlen", type=_positive, default=50, help="words read per sentence (default 50)")
    sentiment.add_argument("--limit", type=_positive, help="use only N training and N test sentences (a quick check)")
    _recipe_options(sentiment, save="sentiment.lstmkit")
    predict = commands.add_parser(
        "predict",
        help="print the probability that each text is positive, with a model saved by `lstmkit sentiment`",
    )
    predict.add_argument("model", help="a file written by `lstmkit sentiment --save`")
    predict.add_argument("texts", nargs="+", metavar="TEXT", help="sentences to score")
    export = commands.add_parser(
        "export",
        help="write a saved model as ONNX, for onnxruntime and other servers",
        description="Loads MODEL (lstmkit's file, Keras's .keras or .h5) and writes it to OUT.onnx with dynamic "
        "batch and time axes, each recurrent layer as ONNX's LSTM, GRU or RNN operator (see lstmkit/saving/onnx.py).",
    )
    export.add_argument("model", help="a saved model: model.save(...), a recipe's --save, a .keras or .h5 file")
    export.add_argument("out", metavar="OUT.onnx", help="where to write the ONNX model")
    return top


def _recipe_options(command: argparse.ArgumentParser, save: str | None = None) -> None:
    if save is None:
        command.add_argument("--save", metavar="PATH", help="write the trained model to PATH (load with lstmkit.models.load_model)")
    else:
        command.add_argument("--save", metavar="PATH", default=save, help=f"where to write the trained model (default {save})")
    command.add_argument("--plot", metavar="PATH.png", help="plot the training and validation curves to PATH.png")
    command.add_argument("--checkpoint-dir", metavar="DIR", help="save a checkpoint in DIR after every epoch (see --resume)")
    command.add_argument("--checkpoint-steps", type=_positive, metavar="N", help="also save one every N batches")
    command.add_argument("--resume", action="store_true",
                         help="continue from the newest checkpoint in --checkpoint-dir (a killed run ends as if never stopped)")
    command.add_argument("--seed", type=int, help="seed the random generators, for a repeatable run")
    command.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1, help="1: a progress bar per epoch (default), 2: a line per epoch, 0: quiet")
    _nproc_option(command)


def _nproc_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--nproc", type=_positive, metavar="N",
        help="train data-parallel on N processes of this machine (torch.distributed, gloo on CPU); "
        "--batch-size stays the global batch. Across machines, use torchrun (see the README)",
    )


def _fit_options(args: argparse.Namespace, command_line: argparse.ArgumentParser) -> dict[str, object]:
    if (args.resume or args.checkpoint_steps) and not args.checkpoint_dir:
        command_line.error("--resume and --checkpoint-steps need --checkpoint-dir DIR")
    return {"checkpoint_dir": args.checkpoint_dir, "checkpoint_steps": args.checkpoint_steps, "resume": args.resume}


def _finish_recipe(args: argparse.Namespace, model: object, history: dict, save: Callable[[str], None] | None = None) -> None:
    """Saves the model (with `save(path)` when the recipe keeps more than the model) and plots the curves."""
    from . import plot

    if args.save:
        if save is None:
            model.save(args.save)  # type: ignore[attr-defined]
        else:
            save(args.save)
        print(f"Saved the model to {args.save}")
    if args.plot:
        print(f"Training curves: {plot.history(history, args.plot)}")


def main(argv: Sequence[str] | None = None) -> int:
    command_line = parser()
    args = command_line.parse_args(argv)
    nproc = getattr(args, "nproc", None)
    device = getattr(args, "device", None)
    if args.command == "mnist" and device is not None:
        import torch

        from . import config

        try:
            chosen = config.choose_device(config.parse_device(device, "--device"), None, None, torch.cuda.device_count(),
                                          requested_by="--device")
        except ValueError as e:
            command_line.error(str(e))
        if nproc is not None and chosen.type != "cpu":
            command_line.error(f"--device {device} with --nproc: leave --device out, and each rank takes the GPU of "
                               "its LOCAL_RANK (or the CPU where the ranks outnumber the GPUs)")
    if nproc is not None and getattr(args, "batch_size", None) and args.batch_size % nproc:
        command_line.error(f"--batch-size {args.batch_size} is the global batch: it must be a multiple of --nproc {nproc}")
    if nproc is not None and not distributed.launched():
        # start N ranks of this same command; each finds itself launched and trains its share
        return distributed.launch(nproc, list(sys.argv[1:] if argv is None else argv))
    if nproc is not None and distributed.world_size() != nproc:
        command_line.error(f"--nproc {nproc}, but torchrun started this process as one of {distributed.world_size()} ranks")
    if distributed.launched() and not distributed.is_main_process():
        sys.stdout = open(os.devnull, "w")  # rank 0 reports for the run; errors still reach stderr
    if args.command == "bench":
        if args.onnx:
            from . import bench_serving

            return bench_serving.run(rounds=args.rounds or 5, steps=args.steps or 20, only=args.only)
        if args.compile:
            from . import bench_compile

            return bench_compile.run(rounds=args.rounds or 5, steps=args.steps or 5, only=args.only)
        if args.peers:
            from . import bench_peers

            try:
                load = tuple(int(n) for n in args.load.split(","))
                if any(n < 0 for n in load):
                    raise ValueError
            except ValueError:
                command_line.error(f"--load takes non-negative counts separated by commas, got --load {args.load!r}")
            contenders = None
            if args.contenders:
                try:
                    contenders = bench_peers.contenders_named(args.contenders.split(","))
                except ValueError as e:
                    command_line.error(str(e))
            return bench_peers.run(rounds=args.rounds or 2, steps=args.steps or 3, load=load, only=args.only,
                                   contenders=contenders)
        from . import bench

        return bench.main(rounds=args.rounds or 7, steps_per_round=args.steps or 5, only=args.only, quick=args.quick,
                          device=args.device)
    if getattr(args, "seed", None) is not None:
        from .utils import set_random_seed

        set_random_seed(args.seed)
    if args.command == "mnist":
        from .recipes import mnist

        model, result = mnist.run(epochs=args.epochs, batch_size=args.batch_size, limit=args.limit, verbose=args.verbose,
                                  fit_options=_fit_options(args, command_line), device=args.device)
        print(f"Test loss: {result.test_loss:.4f}")
        print(f"Test accuracy: {result.test_accuracy:.4f}")
        epochs = ", ".join(f"{s:.1f}" for s in result.epoch_seconds)
        mean = sum(result.epoch_seconds) / len(result.epoch_seconds)
        print(f"Time per epoch: {mean:.1f} s (each: {epochs} s; training and validation)")
        _finish_recipe(args, model, result.history)
    elif args.command == "forecast":
        from .recipes import forecast

        try:
            model, res = forecast.train(args.series, lookback=args.lookback, test_size=args.test_size,
                                        season=args.season, units=args.units, epochs=args.epochs, verbose=args.verbose,
                                        fit_options=_fit_options(args, command_line))
        except ValueError as e:
            command_line.error(str(e))
        print(f"Test RMSE over the last {len(res.forecast)} points of {res.series}: LSTM {res.rmse:.2f}, "
              f"naive {res.naive_rmse:.2f}, seasonal naive {res.seasonal_naive_rmse:.2f}")
        _finish_recipe(args, model, res.history)
        if args.forecast_plot:
            print(f"Forecast plot: {forecast.plot(res, args.forecast_plot)}")
    elif args.command == "text":
        from .recipes import text

        try:
            model, tr = text.train(args.corpus, chars=args.chars, length=args.length, units=args.units, epochs=args.epochs,
                                   steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size, verbose=args.verbose,
                                   fit_options=_fit_options(args, command_line))
        except ValueError as e:
            command_line.error(str(e))
        print(f"Validation: {tr.bits_per_char:.3f} bits per character; unigram entropy of the training text "
              f"{tr.unigram_bits:.3f} bits ({tr.unigram_bits - tr.bits_per_char:.3f} below it; "
              f"{tr.train_chars:,} training, {tr.validation_chars:,} validation characters)")
        _finish_recipe(args, model, tr.history, lambda path: text.save(model, tr.vocabulary, path, args.length))
        prompt = "\n" if "\n" in tr.vocabulary.chars else tr.vocabulary.chars[0]
        print("A sample (temperature 0.8):")
        print(prompt + text.generate(model, tr.vocabulary, prompt, length=300, temperature=0.8, seed=args.seed,
                                     window=args.length))
    elif args.command == "generate":
        from .recipes import text

        try:
            model, vocabulary, window = text.load(args.model)
            sample = text.generate(model, vocabulary, args.prompt, length=args.length,
                                   temperature=args.temperature, seed=args.seed, window=window)
        except (ValueError, FileNotFoundError) as e:
            command_line.error(str(e))
        print(args.prompt + sample)
    elif args.command == "sentiment":
        from .recipes import sentiment

        try:
            model, sr = sentiment.train(num_words=args.num_words, maxlen=args.maxlen, epochs=args.epochs,
                                        batch_size=args.batch_size, limit=args.limit, verbose=args.verbose,
                                        fit_options=_fit_options(args, command_line))
        except ValueError as e:
            command_line.error(str(e))
        print(f"Test accuracy: {sr.test_accuracy:.4f} (majority class: {sr.majority_accuracy:.4f}; "
              f"weights of epoch {sr.best_epoch} of {sr.epochs_run}, the best on validation)")
        _finish_recipe(args, model, sr.history, lambda path: sentiment.save(model, sr.tokenizer, sr.maxlen, path))
    elif args.command == "predict":
        from .recipes import sentiment

        try:
            model, tokenizer, maxlen = sentiment.load(args.model)
        except (ValueError, FileNotFoundError) as e:
            command_line.error(str(e))
        for sentence, p in zip(args.texts, sentiment.predict(model, tokenizer, maxlen, args.texts)):
            print(f"{p:.3f}  {sentence}")
    elif args.command == "export":
        from .models import load_model

        if not os.path.isfile(args.model):
            command_line.error(f"no model file at {args.model!r}")
        try:
            path = load_model(args.model).export(args.out, format="onnx")
        except (ValueError, ImportError) as e:
            command_line.error(str(e))
        print(f"Wrote {path}")
    elif args.command == "run":
        from .compat.programs import run_program

        if not os.path.isfile(args.program):
            command_line.error(f"no program at {args.program!r}")
        try:
            run_program(args.program, args.args, epochs=args.epochs)
        except ValueError as e:
            if not str(e).startswith(repr(args.program)):
                raise  # the program's own error: its traceback is the user's to read
            command_line.error(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
