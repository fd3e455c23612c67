"""The fused GPU path: the loop of `loop.py` over Triton kernels, one per cell and direction.

Written in Triton rather than CUDA C++: the kernels compile on the user's machine for the GPU it
has, with no CUDA toolkit and no build step at install (Triton comes with PyTorch's CUDA builds),
and the same source runs on the CPU under Triton's interpreter (`TRITON_INTERPRET=1`), which is
how CI checks them against the reference cells without a GPU. Each cell's kernels have its
options and activations compiled in and run under one of the loop's two drivers (loop.py): a
launch per step beside cuBLAS's recurrent product, or one launch for the whole sequence with the
product inside the kernel.

`BACKEND` has the CPU kernels' contract (see ../fused.py): `forward(cell, tensors, options)` and
`backward(cell, tensors, options)` with tensors and options by name. The computation is float32;
float16 and bfloat16 inputs are computed with float32 states and weights.
"""

import functools
import importlib
import importlib.util
from typing import Any

import torch

from ...cells import is_zero_state
from ..fused import STATE_NAMES


def unavailable() -> str | None:
    """Why the fused GPU kernels cannot run here, or None."""
    if importlib.util.find_spec("triton") is None:
        return "the fused GPU kernels need Triton (`pip install triton`), which is not installed"
    return None


# each cell's `kernel_name` -> its module here and class (imported when used: they import Triton)
_CELLS = {"lstm": ("lstm", "LSTM"), "gru": ("gru", "GRU"), "simple_rnn": ("simple_rnn", "SimpleRNN"),
          "conv_lstm": ("conv_lstm", "ConvLSTM")}


def cell_names() -> tuple[str, ...]:
    """The cells the Triton kernels compute (their `kernel_name`s), without importing Triton."""
    return tuple(_CELLS)


@functools.cache
def _cells() -> dict[str, Any]:
    return {name: getattr(importlib.import_module(f".{module}", __name__), cls) for name, (module, cls) in _CELLS.items()}


def _checked(cell: str, tensors: dict[str, torch.Tensor], options: dict[str, Any]) -> Any:
    """The cell's class, once the names given are the ones it and the loop take (and the
    options' types theirs). A call like one checked before is not checked again: the checks
    cost more host time than the sequence kernel's launch."""
    key = (cell, tuple(tensors), tuple((name, type(value)) for name, value in options.items()))
    impl = _checked_calls.get(key)
    if impl is not None:
        return impl
    from ..fused import typed_options
    from . import loop

    cells = _cells()
    if cell not in cells:
        raise RuntimeError(f"lstmkit fused kernel: unknown cell {cell!r} ({', '.join(cells)})")
    impl = cells[cell]
    names = impl.names
    known = set(loop.LOOP_TENSORS) | set(names.inputs) | set(names.saved)
    unknown = sorted(set(tensors) - known)
    if unknown:
        raise KeyError(f"the fused GPU kernels' {cell} take no tensor {unknown[0]!r}")
    typed_options(cell, options, (*loop.LOOP_INTS, *names.ints), names.floats)
    _checked_calls[key] = impl
    return impl


_checked_calls: dict[tuple[Any, ...], Any] = {}  # the calls' names and options' types checked so far


class _TritonBackend:
    def forward(self, cell: str, tensors: dict[str, torch.Tensor], options: dict[str, Any]) -> dict[str, torch.Tensor]:
        from . import loop

        impl_class = _checked(cell, tensors, options)
        seq = loop.sequence_of(tensors, options, impl_class.spatial)
        impl = impl_class(seq, tensors, options)
        seq.whole = loop.whole_sequence(impl, seq)
        initial = [tensors[n] for n in STATE_NAMES[:impl.n_states]]
        if all(map(is_zero_state, initial)):
            initial = []  # the loop clears the first slots itself
        return loop.run_forward(impl, seq, [s.float().reshape(seq.B, seq.H) for s in initial], bool(options["save"]),
                                bool(options["final_states"]))

    def backward(self, cell: str, tensors: dict[str, torch.Tensor], options: dict[str, Any]) -> dict[str, torch.Tensor]:
        from . import loop

        impl_class = _checked(cell, tensors, options)
        seq = loop.sequence_of(tensors, options, impl_class.spatial)
        impl = impl_class(seq, tensors, options)
        seq.whole = loop.whole_sequence(impl, seq)
        grads = loop.run_backward(impl, seq, tensors, bool(options["need_dx"]))
        # each gradient in its input's dtype (a float16 x gets a float16 gradient)
        return {n: g.to(tensors[n].dtype) if n in tensors else g for n, g in grads.items()}


BACKEND = _TritonBackend()
