"""Running one hostile input in a process of its own, as an attacker's file would be met: with a
wall-clock limit, an address-space limit above what the imports took, and its outcome (the
exception's type and message, or "ok"), its time and its memory growth reported back. A crash
(a signal) or a time-out is reported as such, never hidden."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass

RUNNER = """
import json, resource, sys, time
{setup}
def _vm_kb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmSize:"))
_limit = _vm_kb() * 1024 + {megabytes} * (1 << 20)
resource.setrlimit(resource.RLIMIT_AS, (_limit, _limit))
_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
_start = time.perf_counter()
try:
{call}
    _outcome = "ok"
except BaseException as err:
    _outcome = type(err).__name__ + ": " + str(err)
    _kind = [k.__name__ for k in type(err).__mro__]
else:
    _kind = []
print("@@" + json.dumps({{"outcome": _outcome, "kinds": _kind, "seconds": time.perf_counter() - _start,
                         "megabytes": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - _before) / 1024}}))
"""


@dataclass
class Outcome:
    outcome: str
    kinds: list[str]
    seconds: float
    megabytes: float

    def refused(self, *kinds: str) -> bool:
        """The call raised one of `kinds` (a class name anywhere in the exception's MRO)."""
        return any(k in self.kinds for k in (kinds or ("ValueError", "TypeError")))


def attack(call: str, setup: str = "", seconds: float = 60, megabytes: int = 400, cwd: str | None = None,
           env: dict[str, str] | None = None) -> Outcome:
    """Runs `setup` (imports, unlimited) then `call` under the limits; the outcome of `call`."""
    code = RUNNER.format(setup=textwrap.dedent(setup), megabytes=megabytes,
                         call=textwrap.indent(textwrap.dedent(call), "    "))
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=seconds,
                              cwd=cwd, env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the hostile input ran past {seconds} s: {call.strip()[:200]}") from None
    if done.returncode != 0:
        raise AssertionError(f"the process died (exit {done.returncode}) on {call.strip()[:200]}:\n{done.stderr[-3000:]}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("@@"))
    return Outcome(**json.loads(line[2:]))


MUTATE = """
import random, warnings
warnings.simplefilter("ignore")
good = open({good!r}, "rb").read()
outcomes = {{}}
for seed in range({n}):
    r = random.Random(seed)
    data = bytearray(good)
    for _ in range(r.choice([1, 4, 16, 64])):
        data[r.randrange(len(data))] = r.randrange(256)
    path = {folder!r} + f"/m{{seed}}" + {suffix!r}
    open(path, "wb").write(bytes(data))
    try:
        {load}
        kind = "loaded"
    except ValueError as err:
        kind = "ValueError" if path in str(err) else "ValueError without the file's name: " + str(err)[:200]
    except Exception as err:
        kind = type(err).__name__ + ": " + str(err)[:200]
    outcomes[kind] = outcomes.get(kind, 0) + 1
assert set(outcomes) <= {{"loaded", "ValueError"}}, outcomes
"""


def mutations(good: str, n: int, folder: str, load: str, setup: str) -> Outcome:
    """`n` copies of the file `good`, each with 1 to 64 random bytes changed (seeded), each given
    to `load` (a statement reading `path`) in one process under limits: the outcome is "ok" when
    each loaded or raised a ValueError naming its file."""
    suffix = os.path.basename(good)[os.path.basename(good).index("."):]
    return attack(MUTATE.format(good=good, n=n, folder=folder, suffix=suffix, load=load), setup=setup,
                  seconds=600, megabytes=1000)
