"""Settings the test session needs before anything imports the code under test (this file is
loaded first, for the tests and for the doctests of lstmkit/ alike)."""

import importlib.util
import os

# The fused GPU kernels are Triton code. Without a GPU they run on the CPU under Triton's
# interpreter, which Triton chooses when it first sees a kernel, so it is chosen here; without
# Triton (its wheels exist for Linux x86-64 only) their modules are not collected at all.
if importlib.util.find_spec("triton") is None:
    collect_ignore_glob = ["lstmkit/kernels/gpu/*.py"]
else:
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")
