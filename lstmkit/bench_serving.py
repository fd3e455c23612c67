"""`lstmkit bench --onnx`: inference latency of an exported model in onnxruntime beside lstmkit's.

For each case, the model is exported (`model.export(..., format="onnx")`) and timed, in this
process and interleaved round by round, at batch 1 and batch 32: lstmkit's `predict` (what a
Keras program calls, with its input checks and conversion), the model called directly under
`torch.no_grad()` (what a PyTorch server calls) and onnxruntime's `InferenceSession.run` on the
exported file (one intra-op thread per core, its default). Median ms per batch and the ratio of
each to `predict`.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Callable

import numpy as np
import torch

from .bench_compile import CASES, CompileCase, interleaved


def bench_case(case: CompileCase, rounds: int, steps: int, batches: tuple[int, ...] = (1, 32)) -> dict[str, float]:
    import onnxruntime as ort

    from . import layers
    from .models import Sequential

    L: Any = layers
    torch.manual_seed(0)
    model = Sequential([L.Input(case.x_shape[1:]), *case.build(L)])
    model.eval()
    with tempfile.TemporaryDirectory() as folder:
        path = model.export(os.path.join(folder, "model.onnx"), format="onnx")
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    runs: dict[str, Callable[[], Any]] = {}
    for batch in batches:
        x = np.random.default_rng(batch).standard_normal((batch, *case.x_shape[1:])).astype(np.float32)
        xt = torch.from_numpy(x)

        def direct(xt: torch.Tensor = xt) -> None:
            with torch.no_grad():
                model(xt)

        def predict(x: np.ndarray = x, batch: int = batch) -> None:
            model.predict(x, batch_size=batch, verbose=0)

        def served(x: np.ndarray = x) -> None:
            session.run(None, {name: x})

        runs[f"predict {batch}"] = predict
        runs[f"direct {batch}"] = direct
        runs[f"onnxruntime {batch}"] = served
    return interleaved(runs, rounds, steps)


def run(rounds: int = 5, steps: int = 20, only: str | None = None) -> int:
    import importlib.util

    missing = [m for m in ("onnxruntime", "onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"lstmkit bench --onnx needs {', '.join(missing)}: pip install 'lstmkit[bench]'")
        return 2
    for case in CASES:
        if only and only.lower() not in case.name.lower():
            continue
        ms = bench_case(case, rounds, steps)
        print(case.name, "(inference ms per batch)")
        print(f"  {'batch':>6s}{'predict':>10s}{'model(x)':>10s}{'onnxruntime':>13s}{'ort/predict':>13s}")
        for batch in (1, 32):
            p, d, o = ms[f"predict {batch}"], ms[f"direct {batch}"], ms[f"onnxruntime {batch}"]
            print(f"  {batch:6d}{p:10.3f}{d:10.3f}{o:13.3f}{o / p:13.2f}")
    return 0
