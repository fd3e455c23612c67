"""Compiles every GPU kernel to a CUDA binary without a GPU: Triton's own compiler and the ptxas
its wheel carries, for the architectures given (default sm_80 and sm_90), each kernel in the
option sets that change its code most (both drivers, every LSTM option on and off, both GRU
resets). Triton's interpreter checks the kernels' arithmetic; this checks that they lower at
all (loop-carried types, barriers, constexpr branches), which only a compilation shows.

Run by tests/test_gpu_kernels.py in its own process: TRITON_INTERPRET must be unset when Triton
is imported, or the kernels are the interpreter's functions, which do not compile.

    python tests/compile_gpu_kernels.py [ARCH ...]
Prints a line per compilation and exits 1 if any failed.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any


INTS = {"t", "t0", "steps", "T", "B", "H"}  # every other argument not compile-time is a pointer
FLOATS = {"eps", "zone_p", "clip"}
BYTES = {"MASK"}  # uint8 (the step mask); the other pointers are float32


def source(kernel: Any, constexprs: dict[str, object]) -> Any:
    """The kernel's source for triton.compile, its arguments typed by name."""
    import triton
    from triton.compiler import ASTSource

    signature = {}
    for name in kernel.arg_names:
        if name in constexprs:
            signature[name] = "constexpr"
        elif name in INTS:
            signature[name] = "i32"
        elif name in FLOATS:
            signature[name] = "fp32"
        else:
            signature[name] = "*u8" if name in BYTES else "*fp32"
    if tuple(int(p) for p in triton.__version__.split(".")[:2]) < (3, 3):  # compile-time values by name then
        return ASTSource(fn=kernel, signature=signature, constants=dict(constexprs))
    return ASTSource(fn=kernel, signature=signature,
                     constexprs={(kernel.arg_names.index(n),): v for n, v in constexprs.items()})


def option_sets() -> list[tuple[str, object, dict[str, object], int]]:
    """(label, kernel, compile-time options, warps) for every compilation."""
    from lstmkit.kernels.fused import ACTIVATION_IDS
    from lstmkit.kernels.gpu import gru, lstm, simple_rnn

    act = {name: ACTIVATION_IDS[name] for name in ("tanh", "sigmoid", "softmax", "gelu")}
    runs = []
    for sequence in (False, True):
        driver = "sequence" if sequence else "steps"
        warps = 4 if sequence else 1
        for block in (16, 128) if sequence else (128,):  # the in-kernel product's tiles follow the block
            loop = dict(HAS_MASK=True, HAS_RMASK=True, ZERO_OUTPUT=False, SEQUENCES=True, BLOCK=block,
                        SEQUENCE=sequence, PK=min(32, block), PN=min(128, block))
            plain = dict(ACT=act["tanh"], RACT=act["sigmoid"], PEEPHOLE=False, NORM=False, ZONEOUT=False, CLIP=False,
                         ZONE_DRAWS=False)
            every = dict(ACT=act["softmax"], RACT=act["gelu"], PEEPHOLE=True, NORM=True, ZONEOUT=True, CLIP=True,
                         ZONE_DRAWS=True)
            last_only = dict(loop, HAS_MASK=False, HAS_RMASK=False, ZERO_OUTPUT=True, SEQUENCES=False)
            for label, options in (("plain", {**loop, **plain}), ("every option", {**loop, **every}),
                                   ("last output", {**last_only, **plain})):
                for kernel in (lstm._forward_kernel, lstm._backward_kernel):
                    runs.append((f"LSTM {driver} {label} block {block}", kernel, options, warps))
            for reset_after in (True, False):
                options = dict(loop, ACT=act["tanh"], RACT=act["sigmoid"], RESET_AFTER=reset_after)
                runs.append((f"GRU {driver} reset_after={reset_after} block {block}", gru._forward_kernel,
                             dict(options, HAS_BR=reset_after), warps))
                runs.append((f"GRU {driver} reset_after={reset_after} block {block}", gru._backward_kernel, options,
                             warps))
            for kernel in (simple_rnn._forward_kernel, simple_rnn._backward_kernel):
                runs.append((f"SimpleRNN {driver} block {block}", kernel, dict(loop, ACT=act["tanh"]), warps))
    for kernel in (gru._gates_kernel, gru._reset_backward_kernel):
        runs.append(("GRU steps, reset_after=False", kernel, dict(RACT=act["sigmoid"], BLOCK=128), 1))
    return runs


def main(archs: list[int]) -> int:
    if os.environ.get("TRITON_INTERPRET") == "1":  # checked before Triton is first imported
        print("compile_gpu_kernels.py: run it without TRITON_INTERPRET=1 (the interpreter's kernels do not compile)")
        return 2
    import triton
    from triton.backends.compiler import GPUTarget

    failed = 0
    for arch in archs:
        target = GPUTarget("cuda", arch, 32)
        for label, kernel, options, warps in option_sets():
            name = f"sm_{arch} {kernel.fn.__name__} ({label})"
            try:
                compiled = triton.compile(source(kernel, options), target=target, options={"num_warps": warps})
                assert compiled.asm["cubin"], "no binary"
                print(f"compiled {name}")
            except Exception:  # every failure is reported, then the exit status says
                failed += 1
                print(f"FAILED {name}\n{traceback.format_exc()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main([int(a) for a in sys.argv[1:]] or [80, 90]))
