"""The fused kernels as torch operators, for graphs: `torch.compile`, `torch.export`.

Eager calls go through `fused._Fused`, an autograd function whose forward keeps the buffers its
backward reads. A traced graph needs operators whose outputs' shapes are known without running
them, so under `torch.compile` and `torch.export` (`torch.compiler.is_compiling()`) a call runs as
two custom operators with fake (shape-only) implementations and a registered autograd formula:

    lstmkit::sequence(call, tensors) -> [out, h(, c)]
    lstmkit::sequence_backward(call, tensors, grads, needs) -> [a gradient per tensor]

`call` is JSON: the cell's kernel name, the names of `tensors` (the loop's and the cell's,
`FusedCall.given()`), the options and the layer's name (for messages). Both run on either
backend (`fused.backend_for`). The forward keeps no buffers (the graph's outputs are out and the
states, shaped from the inputs alone); its
backward runs the forward again with them and then the backward, so a compiled training step
computes each recurrent forward twice (`lstmkit bench --compile` reports what that costs). A
tensor that needs no gradient gets an empty one from `sequence_backward`, which autograd reads
as none.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Iterator

import torch

from . import fused


_onnx_export = False  # set while saving/onnx.py traces a model: a layer off the fused path is refused


def onnx_export_active() -> bool:
    """Whether an ONNX export is tracing a model now (the dispatch then refuses, by name, a layer
    whose loop would be unrolled in Python instead of written as its operator)."""
    return _onnx_export


@contextlib.contextmanager
def onnx_export() -> Iterator[None]:
    global _onnx_export
    previous, _onnx_export = _onnx_export, True
    try:
        yield
    finally:
        _onnx_export = previous


def _read(call: str) -> tuple[str, list[str], dict[str, Any]]:
    c = json.loads(call)
    return c["cell"], c["names"], c["options"]


@torch.library.custom_op("lstmkit::sequence", mutates_args=())
def sequence(call: str, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """out (T, rows, H) or (rows, H) and the final states (rows, H), rows = B·S (S: a spatial
    cell's positions per sample, else 1)."""
    cell, names, options = _read(call)
    given = dict(zip(names, tensors))
    result = fused.backend_for(given["x"]).forward(cell, given, {**options, "save": False, "need_dx": False})
    return [result["out"], result["h"]] + ([result["c"]] if "c0" in given else [])


@sequence.register_fake
def _sequence_shapes(call: str, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    _, names, options = _read(call)
    given = dict(zip(names, tensors))
    x, h0 = given["x"], given["h0"]
    units = h0.shape[-1]
    rows = h0.shape[0]
    for n in h0.shape[1:-1]:
        rows = rows * n
    out_shape = (x.shape[0], rows, units) if options["return_sequences"] else (rows, units)
    return [x.new_empty(out_shape, dtype=h0.dtype)] + [x.new_empty((rows, units), dtype=h0.dtype)
                                                      for _ in range(2 if "c0" in given else 1)]


@torch.library.custom_op("lstmkit::sequence_backward", mutates_args=())
def sequence_backward(call: str, tensors: list[torch.Tensor], grads: list[torch.Tensor],
                      needs: list[bool]) -> list[torch.Tensor]:
    """The gradient of each tensor that `needs` one (an empty tensor for the others), from the
    gradients of out, h (and c): the forward again, keeping its buffers, then the backward."""
    cell, names, options = _read(call)
    given = dict(zip(names, tensors))
    backend = fused.backend_for(given["x"])
    saved = backend.forward(cell, given, {**options, "save": True, "need_dx": True})
    for name in ("out", "h", "c"):
        saved.pop(name, None)
    inputs = {**given, **saved, **dict(zip(fused.GRAD_NAMES, grads))}
    got = backend.backward(cell, inputs, {**options, "save": False, "need_dx": needs[names.index("x")]})
    empty = given["x"].new_empty(0)
    return [got[n].contiguous() if need and n in got else empty.clone() for n, need in zip(names, needs)]


@sequence_backward.register_fake
def _sequence_backward_shapes(call: str, tensors: list[torch.Tensor], grads: list[torch.Tensor],
                              needs: list[bool]) -> list[torch.Tensor]:
    return [torch.empty_like(t) if need else t.new_empty(0) for t, need in zip(tensors, needs)]


def _keep(ctx: Any, inputs: tuple[Any, ...], output: list[torch.Tensor]) -> None:
    call, tensors = inputs
    ctx.save_for_backward(*tensors)
    ctx.call = call
    ctx.needs = [t.requires_grad for t in tensors]
    ctx.output_shapes = [tuple(o.shape) for o in output]


def _gradients(ctx: Any, grads: list[torch.Tensor | None]) -> tuple[Any, ...]:
    tensors = list(ctx.saved_tensors)
    full = fused.arriving_gradients(grads, ctx.output_shapes, tensors[0])
    got = sequence_backward(ctx.call, tensors, full, ctx.needs)
    return None, [g if need else None for g, need in zip(got, ctx.needs)]


sequence.register_autograd(_gradients, setup_context=_keep)


def run_call(call: fused.FusedCall) -> tuple[torch.Tensor, ...]:
    """(out, h) or (out, h, c) of one call as graph operators."""
    given = call.given()
    return tuple(sequence(_spec(call.cell, tuple(given), call.options, call.owner), list(given.values())))


@torch.compiler.assume_constant_result  # (the graph takes the string as a constant)
def _spec(cell: str, names: tuple[str, ...], options: dict[str, Any], owner: str) -> str:
    """The `call` argument: JSON of the cell, the tensors' names, the options and the layer
    (for an exporter's messages)."""
    plain = {k: (int(v) if isinstance(v, bool) else v) for k, v in options.items()}
    return json.dumps({"cell": cell, "names": list(names), "options": plain, "owner": owner}, sort_keys=True)
