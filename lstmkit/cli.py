"""The `lstmkit` command: `lstmkit mnist [--epochs 3] [--batch-size 32] [--save PATH]`, `lstmkit run PROGRAM`,
`lstmkit bench`, `lstmkit forecast [--series airline|sunspots|FILE.csv]`."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ._version import __version__


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
    _recipe_options(mnist)
    run = commands.add_parser(
        "run",
        help="run a Keras program on lstmkit (its keras imports redirected; the file is not changed)",
        description="Runs PROGRAM with each import line that names keras rewritten to name lstmkit "
        "(`from keras.layers import LSTM` -> `from lstmkit.layers import LSTM`); nothing else changes.",
    )
    run.add_argument("--seed", type=int, help="seed the random generators before the program starts, for a repeatable run")
    run.add_argument("program", help="the Python file to run")
    run.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed on to the program")
    bench = commands.add_parser(
        "bench",
        help="time lstmkit's fused and reference paths against torch.nn.LSTM and an LSTMCell loop",
        description="Runs each benchmark case's contenders side by side in this process, interleaved, "
        "and prints ms per training step and per inference batch, peak memory and the ratios to the "
        "fused path (see lstmkit/bench.py).",
    )
    bench.add_argument("--rounds", type=_positive, default=7, help="interleaved rounds; the median is reported (default 7)")
    bench.add_argument("--steps", type=_positive, default=5, help="steps timed per round (default 5)")
    bench.add_argument("--only", metavar="TEXT", help="run only the cases whose name contains TEXT")
    bench.add_argument("--quick", action="store_true", help="tiny shapes: checks that every contender runs, times nothing useful")
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
    return top


def _recipe_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--save", metavar="PATH", help="write the trained model to PATH (load with lstmkit.models.load_model)")
    command.add_argument("--plot", metavar="PATH.png", help="plot the training and validation curves to PATH.png")
    command.add_argument("--seed", type=int, help="seed the random generators, for a repeatable run")
    command.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1, help="1: a progress bar per epoch (default), 2: a line per epoch, 0: quiet")


def _finish_recipe(args: argparse.Namespace, model: object, history: dict) -> None:
    from . import plot

    if args.save:
        model.save(args.save)  # type: ignore[attr-defined]
        print(f"Saved the model to {args.save}")
    if args.plot:
        print(f"Training curves: {plot.history(history, args.plot)}")


def main(argv: Sequence[str] | None = None) -> int:
    command_line = parser()
    args = command_line.parse_args(argv)
    if args.command == "bench":
        from . import bench

        return bench.main(rounds=args.rounds, steps_per_round=args.steps, only=args.only, quick=args.quick)
    if args.seed is not None:  # every other command takes --seed
        from .utils import set_random_seed

        set_random_seed(args.seed)
    if args.command == "mnist":
        from .recipes import mnist

        model, result = mnist.run(epochs=args.epochs, batch_size=args.batch_size, limit=args.limit, verbose=args.verbose)
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
                                        season=args.season, units=args.units, epochs=args.epochs, verbose=args.verbose)
        except ValueError as e:
            command_line.error(str(e))
        print(f"Test RMSE over the last {len(res.forecast)} points of {res.series}: LSTM {res.rmse:.2f}, "
              f"naive {res.naive_rmse:.2f}, seasonal naive {res.seasonal_naive_rmse:.2f}")
        _finish_recipe(args, model, res.history)
        if args.forecast_plot:
            print(f"Forecast plot: {forecast.plot(res, args.forecast_plot)}")
    elif args.command == "run":
        import os

        from .keras_programs import run_program

        if not os.path.isfile(args.program):
            command_line.error(f"no program at {args.program!r}")
        run_program(args.program, args.args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
