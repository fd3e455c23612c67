"""lstmkit keeps freed memory with the process during its runs (lstmkit/_memory.py), and leaves
glibc's malloc as it is where the user chose."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc, /proc")

# A 64 MB block, freed: is it still resident? (the pages were written, so they count while kept)
PROBE = r"""
import ctypes, json, sys
from lstmkit import _memory
kept = _memory.keep_freed_memory() if sys.argv[1] == "keep" else False
def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size = 64 << 20
before = rss_mb()
p = libc.malloc(size)
ctypes.memset(p, 1, size)
libc.free(p)
print(json.dumps({"kept": kept, "held_mb": rss_mb() - before}))
"""


def probe(mode: str, **env: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_freed_blocks_stay_with_the_process():
    plain = probe("plain")
    kept = probe("keep")
    assert plain["held_mb"] < 16, plain  # glibc gave the 64 MB back
    assert kept["kept"] and kept["held_mb"] > 48, kept


@pytest.mark.parametrize("env", [{"LSTMKIT_KEEP_FREED_MEMORY": "0"}, {"MALLOC_TRIM_THRESHOLD_": "131072"}])
def test_the_users_choice_stands(env):
    result = probe("keep", **env)
    assert not result["kept"] and result["held_mb"] < 16, result
