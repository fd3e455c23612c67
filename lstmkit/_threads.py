"""Threads on a shared CPU: as many compute threads as the cores other processes leave free.

torch (and the fused kernels, which run in torch's OpenMP team) use one thread per core. On a
machine another busy process shares, one of those threads waits for a core while the others
wait for it at every barrier, and a step slows down far more than the lost share of the CPU:
on 2 cores, the seed model's training step took 2.4x its quiet time beside one busy process,
where one thread alone took 1.6x. `ThreadGovernor` watches how much CPU the *other* processes
use (from `/proc/stat`, less this process's own CPU time) and sets `torch.set_num_threads` to
the cores left free, at least one and at most the count it started with, rechecking four times
a second; `fit`, `evaluate` and `predict` tick it once per batch and put the count back when
they end. A program's own loop of `train_on_batch` / `test_on_batch` ticks one kept for the
process.

It stands aside (changes nothing) where the user chose: `OMP_NUM_THREADS` or `MKL_NUM_THREADS`
set, `LSTMKIT_ADAPTIVE_THREADS=0`, or a `torch.set_num_threads` call of the user's own during a
run (seen as a count it did not set); where the user asked for repeatable numbers (a seed set
with `lstmkit.utils.set_random_seed` or `tf.random.set_seed`, or
`torch.use_deterministic_algorithms(True)`), since sums split over another number of threads
round otherwise; and off Linux, where `/proc/stat` is absent.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch

_pinned = False  # a program asked for repeatable numbers: the count stays as it is

INTERVAL_S = 0.25  # how often the load is looked at (25 clock ticks a core: a 4 % reading)
SLACK = 0.25  # a core counts as free when at least 3/4 of it is


def pin() -> None:
    """Keeps the thread count fixed from now on (a seeded program wants the same numbers each run)."""
    global _pinned
    _pinned = True


def choose_threads(cores: int, others: float, ceiling: int) -> int:
    """Threads for `cores` allowed cores of which other processes use `others` (in cores): the
    free ones, counting a core free when three quarters of it is, between 1 and `ceiling`."""
    free = cores - max(0.0, others)
    return max(1, min(ceiling, math.floor(free + SLACK)))


@dataclass
class _Sample:
    wall: float  # seconds, monotonic
    busy: float  # CPU seconds all processes used on the allowed cores, since boot
    own: float  # CPU seconds this process used


def _read_busy(cpus: set[int]) -> float | None:
    """CPU seconds spent not idle on the cores `cpus`, from /proc/stat (None where unreadable)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            lines = f.readlines()
    except OSError:
        return None
    ticks = 0
    for line in lines:
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        fields = [int(v) for v in rest.split()]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        ticks += sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
    return ticks / os.sysconf("SC_CLK_TCK")


class ThreadGovernor:
    """Sets torch's thread count to the cores other processes leave free (see the module docs)."""

    def __init__(self) -> None:
        self.ceiling = torch.get_num_threads()
        self.enabled = self._allowed()
        self._set = self.ceiling
        self._cpus: set[int] = set()
        self._last: _Sample | None = None
        if self.enabled:
            self._cpus = set(os.sched_getaffinity(0))
            self._last = self._sample()
            self.enabled = self._last is not None

    @staticmethod
    def _allowed() -> bool:
        if os.environ.get("LSTMKIT_ADAPTIVE_THREADS", "1").strip() in ("0", "false", "no", "off"):
            return False
        if os.environ.get("OMP_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS"):
            return False  # the user fixed the count
        if _pinned or torch.are_deterministic_algorithms_enabled():
            return False  # the user wants repeatable numbers
        return hasattr(os, "sched_getaffinity") and os.path.exists("/proc/stat")

    def _sample(self) -> _Sample | None:
        busy = _read_busy(self._cpus)
        return None if busy is None else _Sample(time.monotonic(), busy, time.process_time())

    def tick(self) -> None:
        """Looks at the load when it last looked long enough ago, and sets the count it calls for."""
        if not self.enabled or self._last is None:
            return
        now = time.monotonic()
        if now - self._last.wall < INTERVAL_S:
            return
        if torch.get_num_threads() != self._set:  # set by the user meanwhile: theirs to choose
            self.enabled = False
            return
        sample = self._sample()
        if sample is None:
            self.enabled = False
            return
        others = ((sample.busy - self._last.busy) - (sample.own - self._last.own)) / (sample.wall - self._last.wall)
        self._last = sample
        wanted = choose_threads(len(self._cpus), others, self.ceiling)
        if wanted != self._set:
            torch.set_num_threads(wanted)
            self._set = wanted

    @property
    def threads(self) -> int:
        """The count it has set (its starting count until the load calls for fewer)."""
        return self._set

    def restore(self) -> None:
        """Puts the starting count back, unless the user set one of their own meanwhile."""
        if self._set != self.ceiling and torch.get_num_threads() == self._set:
            torch.set_num_threads(self.ceiling)
        self._set = self.ceiling


_active: ThreadGovernor | None = None
_stepwise: ThreadGovernor | None = None


def step_tick() -> None:
    """One batch of a program's own loop (`train_on_batch`, `test_on_batch`): ticks the running
    governor, or one kept for such loops, which never ends a run and so never gives the count
    back but raises it again when the load goes."""
    global _stepwise
    governor = _active
    if governor is None:
        if _stepwise is None:
            _stepwise = ThreadGovernor()
        governor = _stepwise
    governor.tick()


def acquire() -> tuple[ThreadGovernor, bool]:
    """The governor for a run (the one already running when runs nest, as `fit`'s validation
    does), and whether this run owns it (and must `release` it)."""
    global _active
    if _active is not None:
        return _active, False
    _active = ThreadGovernor()
    return _active, True


def release(governor: ThreadGovernor, owned: bool) -> None:
    """Ends a run: the count goes back when the run owned the governor."""
    global _active
    if owned:
        _active = None
        governor.restore()


@contextmanager
def governed() -> Iterator[ThreadGovernor]:
    """`acquire` and `release` around a run, which ticks the governor once per batch."""
    governor, owned = acquire()
    try:
        yield governor
    finally:
        release(governor, owned)
