"""Compiles the fused CPU kernels on first use and caches the library per machine.

The kernels are `csrc/fused_cpu.cpp` and the headers beside it, built with
`torch.utils.cpp_extension` for this machine's processor. The library lands in a cache folder
keyed by the sources, the compiler flags, torch's and Python's versions and the processor's
features, so an upgrade or a different machine builds afresh and an unchanged one loads in
milliseconds.

Cache folder: `$LSTMKIT_CACHE_DIR`, else `$XDG_CACHE_HOME/lstmkit`, else `~/.cache/lstmkit`.
Target processor: this one (`-march=native`), or `$LSTMKIT_CPU_ARCH`.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import sys
import threading
import time
from pathlib import Path

import torch

CSRC = Path(__file__).with_name("csrc")
SOURCE = CSRC / "fused_cpu.cpp"
# -fopenmp: at::parallel_for is an OpenMP loop compiled into the extension itself; the library
# links to the libgomp torch already loaded, so both share one thread team.
BASE_CFLAGS = ["-O3", "-fno-math-errno", "-fno-trapping-math", "-fopenmp"]
LDFLAGS = ["-fopenmp"]
# The processor the code is built for: this one, unless $LSTMKIT_CPU_ARCH names another gcc
# -march target (say "x86-64" or "x86-64-v2", to see the kernels' numbers as an older processor
# without AVX or FMA computes them: other vector widths in the summed reductions, no fused
# multiply-adds).
ARCH_VARIABLE = "LSTMKIT_CPU_ARCH"


def cflags() -> list[str]:
    arch = os.environ.get(ARCH_VARIABLE) or "native"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", arch):
        raise ValueError(f"${ARCH_VARIABLE}={arch!r} is not a gcc -march name (such as native, x86-64-v2 or armv8-a)")
    flags = [*BASE_CFLAGS, f"-march={arch}"]
    if platform.machine().lower() in ("x86_64", "amd64") and arch == "native":
        # gcc tunes some AVX2 processors (AMD Zen 1 among them) for 128-bit vectors and AVX-512
        # ones for 256-bit vectors; the pointwise loops run faster at the processor's full width
        # (on a 2-core AVX-512 Xeon: the LSTM forward 6-9 % faster at 512 bits than at 256)
        wide = " avx512f " in f" {_cpu_features()} "
        flags.append(f"-mprefer-vector-width={512 if wide else 256}")
    return flags


_lock = threading.Lock()
_loaded = False
_failure: str | None = None


def cache_root() -> Path:
    if os.environ.get("LSTMKIT_CACHE_DIR"):
        return Path(os.environ["LSTMKIT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lstmkit"


def _cpu_features() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line
    except OSError:
        pass
    return platform.processor()


def build_tag() -> str:
    """A short hash of everything the compiled library depends on."""
    h = hashlib.sha256()
    sources = b"".join(path.name.encode() + b"\0" + path.read_bytes() for path in sorted(CSRC.iterdir())
                       if path.suffix in (".cpp", ".h"))
    for part in (sources, " ".join(cflags() + LDFLAGS).encode(), torch.__version__.encode(),
                 sys.version.encode(), platform.machine().encode(), _cpu_features().encode(),
                 os.environ.get("CXX", "").encode()):
        h.update(part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def failure() -> str | None:
    """Why the kernels could not be built or loaded (None if they could, or were not tried)."""
    return _failure


def load() -> bool:
    """Builds (first time only) and loads the kernels; False, with `failure()` set, if it can't."""
    global _loaded, _failure
    if _loaded or _failure is not None:
        return _loaded
    with _lock:
        if _loaded or _failure is not None:
            return _loaded
        try:
            _build_and_load()
            _loaded = True
        except Exception as exc:  # a missing compiler, ninja, headers: all mean "use the reference"
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            _failure = f"the fused CPU kernels could not be built ({type(exc).__name__}: {first_line[:300]})"
    return _loaded


def _build_and_load() -> None:
    tag = build_tag()
    name = f"lstmkit_fused_{tag}"
    directory = cache_root() / "kernels" / name
    library = directory / f"{name}.so"
    if library.exists():
        torch.ops.load_library(str(library))
        return
    directory.mkdir(parents=True, exist_ok=True)
    from torch.utils import cpp_extension

    # pip's `ninja` puts its binary beside the interpreter, which need not be on PATH
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    print(f"lstmkit: compiling the fused CPU kernels for this machine (first use only, about a minute) "
          f"into {directory} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    cpp_extension.load(
        name=name,
        sources=[str(SOURCE)],
        extra_cflags=cflags(),
        extra_ldflags=LDFLAGS,
        build_directory=str(directory),
        is_python_module=False,
        verbose=False,
    )
    print(f"lstmkit: fused CPU kernels ready ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
