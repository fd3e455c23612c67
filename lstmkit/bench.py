"""Side-by-side speed of lstmkit's recurrent paths and PyTorch's, in one process.

`lstmkit bench` (and `python benchmarks/recurrent.py`) times, for each case, one training step
(forward, loss, backward, Adam step) and one inference batch of each contender, on the CPU or,
with `--device cuda`, on the GPU (where `nn.LSTM` is cuDNN and `fused` the Triton kernels):

- `fused`: lstmkit with `implementation="fused"`; on CUDA also `fused steps` and `fused sequence`,
  the GPU loop's two drivers forced (a launch per step; one kernel for the sequence: see
  kernels/gpu/loop.py), where `fused` lets the driver rule choose;
- `reference`: lstmkit with `implementation="reference"` (the Python loop over the cell);
- `nn.LSTM`: the same network on `torch.nn.LSTM` / `GRU` / `RNN` (oneDNN on CPU), where the
  variant exists there;
- `LSTMCell loop`: a hand-written loop over `torch.nn.LSTMCell` (`GRUCell`, `RNNCell`), what
  users write when `torch.nn.LSTM` lacks the variant.

The contenders' rounds are interleaved, so a slow patch of the machine hits them all, and the
median round is reported, with each contender's ratio to `fused`. Memory is what autograd keeps
for the backward pass during one training step (`saved MB`): the part of a step's memory that
grows with the sequence and differs between implementations.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .layers import GRU, LSTM, Dense, Dropout, SimpleRNN
from .models import Sequential


@dataclass
class Case:
    """One benchmark: a recurrent network, its data shape and the variant's options."""

    name: str
    batch: int
    steps: int
    features: int
    units: int
    classes: int
    cell: str = "lstm"  # lstm, gru or rnn
    two_layers: bool = False  # the seed MNIST model: LSTM(seq) / Dropout / LSTM / Dense 64 / Dense
    options: dict = field(default_factory=dict)  # lstmkit layer options for the variant
    masked: bool = False  # a mask with sequences of random lengths (post-padded)
    go_backwards: bool = False


def cases() -> list[Case]:
    mnist: dict[str, Any] = dict(batch=32, steps=28, features=28, units=128, classes=10)
    small: dict[str, Any] = dict(batch=32, steps=50, features=32, units=128, classes=10)
    return [
        Case("seed MNIST model, batch 32", two_layers=True, **mnist),
        Case("seed MNIST model, batch 256", two_layers=True, **{**mnist, "batch": 256}),
        Case("char model: 100 steps, 256 units, batch 64", batch=64, steps=100, features=60, units=256, classes=60),
        Case("LSTM", **small),
        Case("LSTM recurrent_dropout=0.2", options={"recurrent_dropout": 0.2}, **small),
        Case("LSTM dropout=0.2", options={"dropout": 0.2}, **small),
        Case("LSTM masked (random lengths)", masked=True, **small),
        Case("LSTM go_backwards", go_backwards=True, **small),
        Case("LSTM activation=relu", options={"activation": "relu"}, **small),
        Case("LSTM use_bias=False", options={"use_bias": False}, **small),
        Case("LSTM layer_norm=True", options={"layer_norm": True}, **small),
        Case("LSTM peephole=True", options={"peephole": True}, **small),
        Case("LSTM zoneout=0.1", options={"zoneout": 0.1}, **small),
        Case("LSTM layer_norm + peephole + zoneout + recurrent_dropout",
             options={"layer_norm": True, "peephole": True, "zoneout": 0.1, "recurrent_dropout": 0.2}, **small),
        Case("GRU", cell="gru", **small),
        Case("GRU recurrent_dropout=0.2", cell="gru", options={"recurrent_dropout": 0.2}, **small),
        Case("SimpleRNN", cell="rnn", **small),
    ]


# ---- the contenders ---------------------------------------------------------------------------

_LAYERS = {"lstm": LSTM, "gru": GRU, "rnn": SimpleRNN}


def lstmkit_model(case: Case, implementation: str) -> Callable[[torch.Tensor, torch.Tensor | None, bool], torch.Tensor]:
    layer = _LAYERS[case.cell]
    opts = dict(case.options, implementation=implementation, go_backwards=case.go_backwards)
    if case.two_layers:
        layers = [layer(case.units, return_sequences=True, **opts), Dropout(0.2), layer(case.units, **opts),
                  Dense(64, activation="relu"), Dropout(0.2), Dense(case.classes)]
    else:
        layers = [layer(case.units, **opts), Dropout(0.2), Dense(case.classes)]
    model = Sequential(layers)
    model.build((None, case.steps, case.features))

    def run(x: torch.Tensor, mask: torch.Tensor | None, training: bool) -> torch.Tensor:
        if mask is None:
            return model(x, training=training)
        y = x
        for i, lay in enumerate(model.layers):
            y = lay(y, mask=mask if i == 0 else None, training=training)
        return y

    run.module = model  # type: ignore[attr-defined]
    return run


class _UserLSTMCell(nn.Module):
    """An LSTM cell with layer norm and peepholes the way users write one on torch.nn (no fused
    layer offers them): two Linear maps, LayerNorm modules, peephole vectors."""

    def __init__(self, input_size: int, units: int, bias: bool, layer_norm: bool, peephole: bool) -> None:
        super().__init__()
        self.x_map = nn.Linear(input_size, 4 * units, bias=bias)
        self.h_map = nn.Linear(units, 4 * units, bias=False)
        self.ln = nn.ModuleList([nn.LayerNorm(4 * units), nn.LayerNorm(4 * units), nn.LayerNorm(units)]) if layer_norm else None
        self.peep = nn.Parameter(torch.zeros(3, units)) if peephole else None

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state
        xz, hz = self.x_map(x), self.h_map(h)
        if self.ln is not None:
            xz, hz = self.ln[0](xz), self.ln[1](hz)
        i, f, g, o = (xz + hz).chunk(4, 1)
        if self.peep is not None:
            i, f = i + self.peep[0] * c, f + self.peep[1] * c
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        if self.peep is not None:
            o = o + self.peep[2] * c
        h = torch.sigmoid(o) * torch.tanh(self.ln[2](c) if self.ln is not None else c)
        return h, c


_OWN_OPTIONS = ("layer_norm", "peephole", "zoneout")  # lstmkit's options torch.nn lacks


class _TorchNet(nn.Module):
    """The case's network on torch.nn's fused layers, or on a loop over torch.nn's cells."""

    def __init__(self, case: Case, loop: bool) -> None:
        super().__init__()
        self.case, self.loop = case, loop
        rd = float(case.options.get("recurrent_dropout", 0.0))
        self.recurrent_dropout = rd
        self.input_dropout = float(case.options.get("dropout", 0.0))
        bias = bool(case.options.get("use_bias", True))
        sizes = [(case.features, case.units)] + ([(case.units, case.units)] if case.two_layers else [])
        self.zoneout = float(case.options.get("zoneout", 0.0))
        if loop and any(case.options.get(k) for k in ("layer_norm", "peephole")):
            ln, peep = bool(case.options.get("layer_norm")), bool(case.options.get("peephole"))
            self.rnns = nn.ModuleList(_UserLSTMCell(i, o, bias, ln, peep) for i, o in sizes)
        elif loop:
            cell = {"lstm": nn.LSTMCell, "gru": nn.GRUCell, "rnn": nn.RNNCell}[case.cell]
            self.rnns = nn.ModuleList(cell(i, o, bias=bias) for i, o in sizes)
        else:
            rnn = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[case.cell]
            self.rnns = nn.ModuleList(rnn(i, o, bias=bias, batch_first=True) for i, o in sizes)
        self.dense1 = nn.Linear(case.units, 64) if case.two_layers else None
        self.out = nn.Linear(64 if case.two_layers else case.units, case.classes)

    def _loop(self, cell: nn.Module, x: torch.Tensor, training: bool) -> torch.Tensor:
        B, T, _ = x.shape
        h = x.new_zeros(B, self.case.units)
        c = x.new_zeros(B, self.case.units)
        rmask = None
        if training and self.recurrent_dropout > 0:
            rmask = F.dropout(torch.ones_like(h), self.recurrent_dropout, True)
        outs = []
        for x_t in x.unbind(1):
            h_in = h if rmask is None else h * rmask
            if isinstance(cell, (nn.LSTMCell, _UserLSTMCell)):
                h_new, c_new = cell(x_t, (h_in, c))
                if self.zoneout > 0:  # keep each unit's previous value with probability p
                    if training:
                        d_h = (torch.rand_like(h) < self.zoneout).to(h.dtype)
                        d_c = (torch.rand_like(c) < self.zoneout).to(c.dtype)
                    else:
                        d_h = d_c = torch.full_like(h, self.zoneout)
                    h_new = d_h * h + (1 - d_h) * h_new
                    c_new = d_c * c + (1 - d_c) * c_new
                h, c = h_new, c_new
            else:
                h = cell(x_t, h_in)
            outs.append(h)
        return torch.stack(outs, 1)

    def forward(self, x: torch.Tensor, training: bool) -> torch.Tensor:
        if self.case.go_backwards:
            x = x.flip(1)
        for i, rnn in enumerate(self.rnns):
            if training and self.input_dropout > 0:
                x = x * F.dropout(x.new_ones(x.shape[0], 1, x.shape[2]), self.input_dropout, True)
            x = self._loop(rnn, x, training) if self.loop else rnn(x)[0]
            if i + 1 < len(self.rnns):
                x = F.dropout(x, 0.2, training)
        y = x[:, -1]
        if self.dense1 is not None:
            y = F.dropout(torch.relu(self.dense1(y)), 0.2, training)
        return self.out(F.dropout(y, 0.2, training) if self.dense1 is None else y)


def torch_model(case: Case, loop: bool) -> Callable[..., torch.Tensor] | None:
    """None where torch.nn has no such variant (the loop covers recurrent dropout, not masks or activations)."""
    if case.masked or "activation" in case.options:
        return None
    if not loop and any(k in case.options for k in ("recurrent_dropout", *_OWN_OPTIONS)):
        return None
    net = _TorchNet(case, loop)
    net.train()

    def run(x: torch.Tensor, mask: torch.Tensor | None, training: bool) -> torch.Tensor:
        return net(x, training)

    run.module = net  # type: ignore[attr-defined]
    return run


# ---- measuring --------------------------------------------------------------------------------


@dataclass
class Result:
    train_ms: float | None = None
    infer_ms: float | None = None
    saved_mb: float | None = None


def _saved_bytes(fn: Callable[[], None]) -> float:
    """Bytes autograd holds for the backward pass during one training step (each storage once).

    This is the part of a training step's memory that grows with the sequence and differs
    between implementations; weights, optimizer state and the batch are the same for all.
    """
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return float(sum(seen.values()))


def _synchronize(device: torch.device) -> None:
    """Waits for the device's queued work (a CUDA call returns before its kernels finish)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def case_data(case: Case, seed: int = 0, device: torch.device | str = "cpu"
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """A batch of the case: inputs (B, T, D), class labels (B,), and a mask (B, T) of random
    lengths, post-padded, for a masked case."""
    torch.manual_seed(seed)
    x = torch.randn(case.batch, case.steps, case.features)
    y = torch.randint(0, case.classes, (case.batch,))
    mask = None
    if case.masked:
        lengths = torch.randint(1, case.steps + 1, (case.batch,))
        mask = (torch.arange(case.steps)[None, :] < lengths[:, None]).to(device)
    return x.to(device), y.to(device), mask


def _driven_by(driver: str | None) -> contextlib.AbstractContextManager[None]:
    """The GPU loop run by the driver named (None: as the rule chooses)."""
    if driver is None:
        return contextlib.nullcontext()
    from .kernels.gpu import loop

    return loop.driven_by(driver)


def bench_case(case: Case, rounds: int, steps_per_round: int, seed: int = 0,
               device: torch.device | str = "cpu", gpu_drivers: bool | None = None) -> dict[str, Result]:
    """The case's contenders timed in interleaved rounds; `gpu_drivers` (default: on CUDA) adds
    the GPU loop's two drivers forced."""
    device = torch.device(device)
    x, y, mask = case_data(case, seed, device)
    builders: dict[str, Callable[[], Callable[..., torch.Tensor] | None]] = {
        "fused": lambda: lstmkit_model(case, "fused"),
        "reference": lambda: lstmkit_model(case, "reference"),
        "nn." + {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}[case.cell]: lambda: torch_model(case, loop=False),
        {"lstm": "LSTMCell", "gru": "GRUCell", "rnn": "RNNCell"}[case.cell] + " loop": lambda: torch_model(case, loop=True),
    }
    drivers: dict[str, str] = {}
    if device.type == "cuda" if gpu_drivers is None else gpu_drivers:  # `fused` lets the driver rule choose
        for driver in ("steps", "sequence"):
            builders[f"fused {driver}"] = lambda: lstmkit_model(case, "fused")
            drivers[f"fused {driver}"] = driver
    models = {name: build() for name, build in builders.items()}
    for model in models.values():
        if model is not None:
            model.module.to(device)  # type: ignore[attr-defined]
    train_steps: dict[str, Callable[[], None]] = {}
    infer_steps: dict[str, Callable[[], None]] = {}
    for name, model in models.items():
        if model is None:
            continue
        opt = torch.optim.Adam(model.module.parameters(), 1e-3)  # type: ignore[attr-defined]

        def train(model=model, opt=opt, driver=drivers.get(name)) -> None:
            with _driven_by(driver):
                opt.zero_grad()
                F.cross_entropy(model(x, mask, True), y).backward()
                opt.step()

        def infer(model=model, driver=drivers.get(name)) -> None:
            with torch.no_grad(), _driven_by(driver):
                model(x, mask, False)

        train_steps[name], infer_steps[name] = train, infer
    results = {name: Result() for name in models}
    for steps, key in ((train_steps, "train_ms"), (infer_steps, "infer_ms")):
        for fn in steps.values():  # warm-up
            fn()
            fn()
        times: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(rounds):
            for name, fn in steps.items():
                _synchronize(device)
                start = time.perf_counter()
                for _ in range(steps_per_round):
                    fn()
                _synchronize(device)
                times[name].append((time.perf_counter() - start) / steps_per_round * 1e3)
        for name, ts in times.items():
            setattr(results[name], key, statistics.median(ts))
    for name, fn in train_steps.items():
        results[name].saved_mb = _saved_bytes(fn) / 2**20
    return results


def _fmt(value: float | None, spec: str) -> str:
    width = int(spec.split(".")[0])
    return f"{'n/a':>{width}}" if value is None else format(value, spec)


def report(case: Case, results: dict[str, Result]) -> str:
    base = results["fused"]
    lines = [f"{case.name}", f"  {'contender':<16}{'train ms':>10}{'x fused':>9}{'infer ms':>10}{'x fused':>9}{'saved MB':>10}"]
    for name, r in results.items():
        tr = None if r.train_ms is None or base.train_ms is None else r.train_ms / base.train_ms
        ir = None if r.infer_ms is None or base.infer_ms is None else r.infer_ms / base.infer_ms
        lines.append(f"  {name:<16}{_fmt(r.train_ms, '10.2f')}{_fmt(tr, '9.2f')}{_fmt(r.infer_ms, '10.2f')}"
                     f"{_fmt(ir, '9.2f')}{_fmt(r.saved_mb, '10.1f')}")
    return "\n".join(lines)


# ---- the GPU's targets ------------------------------------------------------------------------

# fused's training step against cuDNN's on the GPU: the case -> (the contender, the largest ratio met)
GPU_TARGETS = {
    "seed MNIST model, batch 32": ("nn.LSTM", 1.0),
    "seed MNIST model, batch 256": ("nn.LSTM", 1.25),
    "GRU": ("nn.GRU", 1.0),
}
VARIANT_TARGET = 1.3  # a variant's fused training step over its plain layer's (same cell and shapes)


def _shape_key(case: Case) -> tuple[Any, ...]:
    return case.cell, case.two_layers, case.batch, case.steps, case.features, case.units


def _is_plain(case: Case) -> bool:
    return not (case.options or case.masked or case.go_backwards)


def target_lines(case: Case, results: dict[str, Result], plain_ms: dict[tuple[Any, ...], float]) -> list[str]:
    """The GPU targets this case answers, each as a line: fused's training step against its
    contender's (GPU_TARGETS) and a variant's against its plain layer's (`plain_ms`: the fused
    training step of each plain case benched so far, by cell and shapes; this one is added)."""
    fused_ms = results["fused"].train_ms
    if fused_ms is None:
        return []
    found: list[tuple[str, float, float]] = []  # what fused is set against, the ratio, the largest ratio met
    if case.name in GPU_TARGETS:
        contender, most = GPU_TARGETS[case.name]
        theirs = results.get(contender)
        if theirs is not None and theirs.train_ms:
            found.append((contender, fused_ms / theirs.train_ms, most))
    key = _shape_key(case)
    if _is_plain(case):
        plain_ms[key] = fused_ms
    elif key in plain_ms:
        found.append((f"the plain {_LAYERS[case.cell].__name__}", fused_ms / plain_ms[key], VARIANT_TARGET))
    return [f"  target: fused {ratio:.2f}x {against}'s training step, at most {most:.2f}x: "
            f"{'met' if ratio <= most else 'MISSED'}" for against, ratio, most in found]


def main(rounds: int = 7, steps_per_round: int = 5, only: str | None = None, quick: bool = False,
         device: str = "cpu") -> int:
    from .kernels import build

    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            print(f"lstmkit bench: --device {device}: this torch sees no CUDA device "
                  f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'})")
            return 1
        from .kernels import gpu

        missing = gpu.unavailable()
        if missing:
            print(f"lstmkit bench: --device {device}: {missing}; nothing to compare")
            return 1
        where = f"{torch.cuda.get_device_name(dev)}, CUDA {torch.version.cuda}"
    elif dev.type == "cpu":
        if not build.load():
            print(f"lstmkit bench: {build.failure()}; nothing to compare")
            return 1
        where = f"{torch.get_num_threads()} threads"
    else:
        print(f"lstmkit bench: --device {device}: the fused kernels run on cpu and cuda devices")
        return 1
    print(f"torch {torch.__version__}, {where}; median of {rounds} interleaved rounds "
          f"of {steps_per_round} steps; 'x fused' = time / fused time")
    plain_ms: dict[tuple[Any, ...], float] = {}
    for case in cases():
        if only and only.lower() not in case.name.lower():
            continue
        if quick:
            case.batch, case.steps = min(case.batch, 4), min(case.steps, 5)
        results = bench_case(case, rounds, steps_per_round, device=dev)
        lines = [report(case, results)]
        if dev.type == "cuda":  # the targets are cuDNN's and the GPU loop's
            lines += target_lines(case, results, plain_ms)
        print("\n".join(lines), flush=True)
    return 0
