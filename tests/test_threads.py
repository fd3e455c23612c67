"""The thread governor: as many torch threads as the cores other processes leave free, and none of
its doing where the user chose a count (the speed it buys is measured in benchmarks/under_load.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from lstmkit import _threads
from lstmkit._threads import ThreadGovernor, choose_threads


def test_the_count_is_the_free_cores_between_one_and_the_ceiling():
    assert choose_threads(2, 0.0, 2) == 2
    assert choose_threads(2, 0.05, 2) == 2  # a quiet machine's background
    assert choose_threads(2, 0.7, 2) == 1  # one busy process sharing two cores with our two threads
    assert choose_threads(2, 1.0, 2) == 1
    assert choose_threads(2, 2.0, 2) == 1  # never below one
    assert choose_threads(16, 1.0, 16) == 15
    assert choose_threads(16, 1.0, 8) == 8  # never above the count it started with
    assert choose_threads(4, 1.3, 4) == 2  # 2.7 free: a core counts when 3/4 of it is
    assert choose_threads(4, -0.1, 4) == 4  # rounding of the readings below zero


linux = pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads /proc/stat")


@linux
def test_the_cpu_reading_counts_busy_seconds():
    cpus = set(os.sched_getaffinity(0))
    before = _threads._read_busy(cpus)
    end = time.process_time() + 0.3
    while time.process_time() < end:  # this process busy for 0.3 CPU seconds
        pass
    after = _threads._read_busy(cpus)
    assert before is not None and after is not None and after - before >= 0.2


@pytest.fixture
def governor_on(monkeypatch):
    """The governor as a user's program has it: no count fixed by the environment, no seed."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "LSTMKIT_ADAPTIVE_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_threads, "_pinned", False)


@linux
def test_a_busy_competitor_takes_a_thread_and_the_count_comes_back(governor_on):
    start = torch.get_num_threads()
    if start < 2 or start != len(os.sched_getaffinity(0)):
        pytest.skip("needs torch on every allowed core, two at least")
    competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        with _threads.governed() as governor:
            assert governor.enabled
            end = time.monotonic() + 4 * _threads.INTERVAL_S + 0.2
            while time.monotonic() < end:
                x = torch.randn(64, 64)
                for _ in range(20):
                    x = torch.tanh(x @ x.t() / 64)  # work of our own, as a training step
                governor.tick()
            assert governor.threads <= start - 1 and torch.get_num_threads() == governor.threads
    finally:
        competitor.kill()
    assert torch.get_num_threads() == start  # given back when the run ends


@linux
def test_it_stands_aside_where_the_user_chose(governor_on, monkeypatch):
    assert ThreadGovernor().enabled
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert not ThreadGovernor().enabled
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setenv("LSTMKIT_ADAPTIVE_THREADS", "0")
    assert not ThreadGovernor().enabled
    monkeypatch.delenv("LSTMKIT_ADAPTIVE_THREADS")
    from lstmkit.utils import set_random_seed

    set_random_seed(3)  # a seeded program: repeatable numbers, so a fixed count
    assert not ThreadGovernor().enabled


@linux
def test_fit_and_predict_run_under_the_governor_and_give_the_count_back(governor_on):
    import numpy as np

    from lstmkit.layers import LSTM, Dense
    from lstmkit.models import Sequential

    start = torch.get_num_threads()
    seen = []
    original = ThreadGovernor.tick

    def spy(self):
        seen.append(self.enabled)
        original(self)

    x, y = np.random.rand(64, 5, 3).astype("float32"), np.random.rand(64, 1).astype("float32")
    model = Sequential([LSTM(4, input_shape=(5, 3)), Dense(1)])
    model.compile(loss="mse", optimizer="adam")
    try:
        ThreadGovernor.tick = spy  # type: ignore[method-assign]
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_data=(x, y))
        model.predict(x, batch_size=8)
    finally:
        ThreadGovernor.tick = original  # type: ignore[method-assign]
    assert len(seen) == 2 * 8 + 2 * 8 + 8 and all(seen)  # a tick per batch: training, validation, predict
    assert torch.get_num_threads() == start and _threads._active is None


@linux
def test_a_count_the_user_sets_during_a_run_is_theirs(governor_on):
    start = torch.get_num_threads()
    governor = ThreadGovernor()
    try:
        assert governor.enabled
        torch.set_num_threads(start + 1)  # the user's own call
        time.sleep(_threads.INTERVAL_S + 0.05)
        governor.tick()
        assert not governor.enabled and torch.get_num_threads() == start + 1
        governor.restore()
        assert torch.get_num_threads() == start + 1  # not undone
    finally:
        torch.set_num_threads(start)


@linux
def test_a_loop_of_train_on_batch_is_governed_too(governor_on, monkeypatch):
    """A program's own loop of train_on_batch ticks one governor kept for the process."""
    import numpy as np

    from lstmkit.layers import Dense
    from lstmkit.models import Sequential

    monkeypatch.setattr(_threads, "_stepwise", None)
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(loss="mse", optimizer="sgd")
    ticks = []
    original = ThreadGovernor.tick
    monkeypatch.setattr(ThreadGovernor, "tick", lambda self: (ticks.append(self), original(self)))
    for _ in range(3):
        model.train_on_batch(np.ones((4, 3), "float32"), np.ones((4, 1), "float32"))
    model.test_on_batch(np.ones((4, 3), "float32"), np.ones((4, 1), "float32"))
    assert len(ticks) == 4 and all(t is _threads._stepwise for t in ticks) and ticks[0].enabled
