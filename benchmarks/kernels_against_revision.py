"""CPU speed of the fused kernels in this tree against those of an earlier git revision, in one process.

    python benchmarks/kernels_against_revision.py REV [--rounds 7] [--steps 5] [--only TEXT]

The revision's `lstmkit/kernels/csrc/` and `fused.py` are taken from git, their operator
namespace renamed so both libraries load side by side, and compiled for this machine. Each case
of `lstmkit bench` then runs as two identical models (same weights, same batch), one through
this tree's kernels and one through the revision's; their training steps and inference batches
are interleaved round by round, each going first every other round, and the medians are printed
with `now / before` ratios. Run against HEAD itself, it shows the noise: ratios within about 2 %.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import lstmkit.kernels.fused as fused_now
from lstmkit import bench
from lstmkit.kernels import build

ROOT = Path(__file__).resolve().parents[1]


def load_revision(rev: str, workdir: Path):
    """The revision's fused module, bound to its own compiled kernels."""
    from torch.utils import cpp_extension

    tag = "lstmkit_fused_" + "".join(c for c in rev if c.isalnum())[:12]
    archive = subprocess.run(["git", "archive", rev, "lstmkit/kernels/csrc"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(workdir, filter="data")
    csrc = workdir / "lstmkit" / "kernels" / "csrc"
    for path in csrc.iterdir():
        path.write_text(path.read_text().replace("lstmkit_fused", tag))
    print(f"compiling {rev}'s kernels ...", file=sys.stderr, flush=True)
    cpp_extension.load(name=tag, sources=[str(csrc / "fused_cpu.cpp")], extra_cflags=build.cflags(),
                       extra_ldflags=build.LDFLAGS, build_directory=str(workdir), is_python_module=False)
    source = subprocess.run(["git", "show", f"{rev}:lstmkit/kernels/fused.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    source = source.replace("torch.ops.lstmkit_fused", f"torch.ops.{tag}")
    # revisions before cells were declared once (issue 28) import a CuDNN cell class of their own
    source = source.replace("from ..cells.lstm import CuDNNLSTMCell", "CuDNNLSTMCell = LSTMCell")
    spec = importlib.util.spec_from_loader(f"lstmkit.kernels._{tag}", loader=None)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    module.__package__ = "lstmkit.kernels"
    sys.modules[module.__name__] = module  # dataclasses look their module up there
    exec(compile(source, f"{rev}:lstmkit/kernels/fused.py", "exec"), module.__dict__)
    return module


def sequence_path(module):
    """The revision's `fused_sequence` with this tree's call: (cell, x, state, settings, *, mask,
    recurrent_mask, noise). Revisions before issue 28 took the sequence options one by one and
    the zoneout draws as (2, T, B, H)."""
    fn = module.fused_sequence
    if "settings" in inspect.signature(fn).parameters:
        return fn

    def call(cell, x, state, settings, *, mask, recurrent_mask, noise=None):
        return fn(cell, x, state, mask=mask, recurrent_mask=recurrent_mask, return_sequences=settings.return_sequences,
                  zero_output_for_mask=settings.zero_output_for_mask,
                  zoneout_masks=None if noise is None else noise.transpose(0, 1))

    return call


def timed(fn, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--only", default=None)
    args = parser.parse_args()
    if not build.load():
        print(f"the kernels of this tree do not build: {build.failure()}")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        before = load_revision(args.rev, Path(tmp))
        paths = {"now": fused_now.fused_sequence, "before": sequence_path(before)}
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of {args.rounds} interleaved "
              f"rounds of {args.steps} steps; before = {args.rev}")
        print(f"{'case':<58}{'train now':>10}{'before':>9}{'ratio':>7}{'infer now':>11}{'before':>9}{'ratio':>7}")
        for case in bench.cases():
            if args.only and args.only.lower() not in case.name.lower():
                continue
            x, y, mask = bench.case_data(case)
            steps = {}
            for name, path in paths.items():
                torch.manual_seed(1)
                model = bench.lstmkit_model(case, "fused")
                opt = torch.optim.Adam(model.module.parameters(), 1e-3)  # type: ignore[attr-defined]

                def train(model=model, opt=opt, path=path) -> None:
                    fused_now.fused_sequence, saved = path, fused_now.fused_sequence
                    try:
                        opt.zero_grad()
                        F.cross_entropy(model(x, mask, True), y).backward()
                        opt.step()
                    finally:
                        fused_now.fused_sequence = saved

                def infer(model=model, path=path) -> None:
                    fused_now.fused_sequence, saved = path, fused_now.fused_sequence
                    try:
                        with torch.no_grad():
                            model(x, mask, False)
                    finally:
                        fused_now.fused_sequence = saved

                steps[name] = (train, infer)
            medians = {}
            for kind in (0, 1):
                for fns in steps.values():
                    fns[kind]()
                    fns[kind]()
                times: dict[str, list[float]] = {name: [] for name in steps}
                for r in range(args.rounds):
                    # alternate who goes first: the second of two back-to-back runs is a little faster
                    for name in (("now", "before") if r % 2 == 0 else ("before", "now")):
                        times[name].append(timed(steps[name][kind], args.steps))
                medians[kind] = {name: statistics.median(ts) for name, ts in times.items()}
            tr, inf = medians[0], medians[1]
            print(f"{case.name:<58}{tr['now']:>10.2f}{tr['before']:>9.2f}{tr['now'] / tr['before']:>7.2f}"
                  f"{inf['now']:>11.2f}{inf['before']:>9.2f}{inf['now'] / inf['before']:>7.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
