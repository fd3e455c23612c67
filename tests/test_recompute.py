"""The bounded-memory backward (lstmkit/kernels/recompute.py): segments recomputed in the
backward give the numbers of the whole-sequence backward, Keras's masking rule across the
segments' boundaries included; "auto" chooses it when the estimate exceeds the memory available,
and says so; the peak memory of a long sequence's training step falls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
import warnings

import pytest
import torch

from lstmkit.kernels import build, recompute
from lstmkit.layers import GRU, LSTM, SimpleRNN

from test_fused import assert_same, random_mask, run_layer

pytestmark = pytest.mark.skipif(not build.load(), reason=f"fused kernels unavailable: {build.failure()}")

CASES = [
    (LSTM, {}),
    (LSTM, {"layer_norm": True, "peephole": True, "zoneout": 0.2}),
    (GRU, {}),
    (GRU, {"reset_after": False}),
    (SimpleRNN, {}),
]


def masks(g: torch.Generator) -> torch.Tensor:
    """Random masks, with runs of masked steps across where the segments (of 4 steps for 23
    steps) begin and end, and one sequence masked from the start and one to the end."""
    mask = random_mask(5, 23, g)
    mask[2, :9] = False
    mask[3, 3:13] = False
    mask[4, 16:] = False
    return mask


@pytest.mark.parametrize("layer_cls,extra", CASES, ids=lambda v: v.__name__ if isinstance(v, type) else str(v))
def test_recomputed_segments_give_the_same_numbers(monkeypatch, layer_cls, extra):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(5, 23, 4, generator=g, dtype=torch.float64)
    for sequences, zero_output, with_state in ((True, False, True), (False, False, False), (True, True, False),
                                               (False, True, True)):
        mask = masks(g)
        options = dict(extra, return_sequences=sequences, return_state=True, zero_output_for_mask=zero_output,
                       recurrent_dropout=0.2)
        monkeypatch.setenv("LSTMKIT_BACKWARD_MEMORY", "keep")
        whole = run_layer(layer_cls, "fused", x, mask, torch.float64, with_state=with_state, **options)
        monkeypatch.setenv("LSTMKIT_BACKWARD_MEMORY", "recompute")
        segmented = run_layer(layer_cls, "fused", x, mask, torch.float64, with_state=with_state, **options)
        label = f"{layer_cls.__name__} {options} state={with_state}"
        assert_same(whole.outputs, segmented.outputs, torch.float64, label + " outputs")
        assert_same(whole.grads, segmented.grads, torch.float64, label + " gradients")


def test_auto_recomputes_where_memory_is_short_and_says_so(monkeypatch):
    monkeypatch.setenv("LSTMKIT_BACKWARD_MEMORY", "auto")
    x = torch.randn(4, 30, 3, dtype=torch.float64)
    whole = run_layer(GRU, "fused", x, None, torch.float64, return_sequences=True)
    # the estimate: 30 steps x 4 rows x 5 units x (3 + 3) values x 8 bytes = 28.8 kB
    monkeypatch.setattr(recompute, "memory_available", lambda device: 20_000)
    with pytest.warns(RuntimeWarning, match=r"recomputing the forward in segments of 5 steps"):
        short = run_layer(GRU, "fused", x, None, torch.float64, return_sequences=True)
    assert_same(whole.grads, short.grads, torch.float64, "auto")
    monkeypatch.setenv("LSTMKIT_BACKWARD_MEMORY", "keep")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_layer(GRU, "fused", x, None, torch.float64, return_sequences=True)


def test_the_memory_asked_is_the_devices(monkeypatch):
    """A CUDA layer's kept tensors live in GPU memory: the decision reads the GPU's free memory
    (and what torch's allocator holds unused), not the system's; the system's is read at most
    once a second (the decision is made at every training call)."""
    gpu = torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (3 << 30, 80 << 30))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device: 5 << 30)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device: 4 << 30)
    reads = []
    monkeypatch.setattr(recompute, "_system_available", lambda: reads.append(1) or 100 << 30)
    monkeypatch.setattr(recompute, "_meminfo", None)
    assert recompute.memory_available(gpu) == 4 << 30
    monkeypatch.setenv("LSTMKIT_BACKWARD_MEMORY", "auto")
    with pytest.warns(RuntimeWarning, match=r"over half of the 4\.0 GB available"):
        assert recompute.segment_steps(100, 3 << 30, types.SimpleNamespace(), gpu) == 10  # over half of 4 GB
    assert recompute.segment_steps(100, 3 << 30, types.SimpleNamespace(), torch.device("cpu")) is None  # of 100 GB
    assert recompute.memory_available() == recompute.memory_available(torch.device("cpu")) == 100 << 30
    assert len(reads) == 1
    monkeypatch.setattr(recompute, "MEMINFO_SECONDS", 0.0)
    recompute.memory_available()
    assert len(reads) == 2


def test_a_wrong_setting_is_named(monkeypatch):
    monkeypatch.setenv("LSTMKIT_BACKWARD_MEMORY", "sometimes")
    with pytest.raises(ValueError, match="LSTMKIT_BACKWARD_MEMORY"):
        run_layer(GRU, "fused", torch.randn(2, 6, 3), None, torch.float32)


PEAK = r"""
import json, sys, torch
from lstmkit.layers import GRU
def kb(field):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(field + ":"))
layer = GRU(128)
x = torch.randn(16, 6000, 8)
layer(x[:, :10]).sum().backward()  # built, kernels loaded
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = kb("VmRSS")
layer(x).sum().backward()
print(json.dumps({"mb": (kb("VmHWM") - before) / 1024}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_the_peak_falls_for_a_long_sequence():
    """A GRU(128) over 6,000 steps at batch 16 keeps about 250 MB for its backward; in segments
    of 77 steps the peak was 49-55 MB in five runs from a shell, but 127-151 MB in some runs under
    pytest (not understood yet: the segments' own tensors are a few MB). The bound holds both."""
    peaks = {}
    for setting in ("keep", "recompute"):
        done = subprocess.run([sys.executable, "-c", PEAK], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "LSTMKIT_BACKWARD_MEMORY": setting})
        assert done.returncode == 0, done.stderr
        peaks[setting] = json.loads(done.stdout.strip().splitlines()[-1])["mb"]
    assert peaks["keep"] > 200, peaks
    assert peaks["recompute"] < 0.7 * peaks["keep"], peaks
