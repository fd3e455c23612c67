"""The fused path: one autograd function over two backends that run a whole sequence.

- CPU: the compiled kernels of `csrc/` (one C++ time loop every cell plugs into), built by
  `build.py`;
- CUDA: `gpu/`, the same loop in Python over Triton kernels, one recurrent product and one
  fused pointwise kernel per step.

Both take the same call: `forward(cell, tensors, options)` and `backward(cell, tensors, options)`,
where `cell` is "lstm", "gru" or "simple_rnn", and tensors and options are dictionaries by name
(`FusedCall` below builds them from a cell). The forward returns "out", "h" (and "c") and, with
`save`, what its backward needs; the backward returns each input's gradient under the input's
name. Inputs are time-major: x (T, B, D), mask (T, B).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch.autograd.function import once_differentiable

from .. import activations
from ..cells import GRUCell, LSTMCell, RecurrentCell, SimpleRNNCell
from ..cells.lstm import CuDNNLSTMCell
from . import build

# Activation ids shared with the C++ `Act` enum and the Triton kernels, in their order.
ACTIVATION_IDS: dict[str, int] = {
    name: i
    for i, name in enumerate([
        "linear", "tanh", "sigmoid", "hard_sigmoid", "relu", "relu6", "leaky_relu", "elu", "selu",
        "softplus", "softsign", "silu", "hard_silu", "gelu", "mish", "exponential", "softmax",
        "log_softmax", "log_sigmoid", "tanh_shrink", "hard_tanh",
    ])
}

FUSED_CELLS = (LSTMCell, CuDNNLSTMCell, GRUCell, SimpleRNNCell)


class Backend(Protocol):
    def forward(self, cell: str, tensors: dict[str, torch.Tensor], options: dict[str, float]) -> dict[str, torch.Tensor]: ...

    def backward(self, cell: str, tensors: dict[str, torch.Tensor], options: dict[str, float]) -> dict[str, torch.Tensor]: ...


class _CpuBackend:
    """The compiled kernels. Their operators take and return each tensor with its name's place in
    the library's own name list (`tensor_names`), and the options as one list in the order of
    `option_names`; this turns the dictionaries into those lists and back."""

    def __init__(self) -> None:
        ops = torch.ops.lstmkit_fused
        self._forward, self._backward = ops.forward, ops.backward
        self.tensor_names: list[str] = list(ops.tensor_names())
        self.option_names: list[str] = list(ops.option_names())
        self._tensor_places = {n: i for i, n in enumerate(self.tensor_names)}
        self._option_places = {n: i for i, n in enumerate(self.option_names)}

    def _lists(self, tensors: dict[str, torch.Tensor], options: dict[str, float]
               ) -> tuple[list[int], list[torch.Tensor], list[float]]:
        try:
            places = [self._tensor_places[n] for n in tensors]
            values = [math.nan] * len(self.option_names)
            for n, v in options.items():
                values[self._option_places[n]] = float(v)
        except KeyError as missing:
            raise KeyError(f"the fused CPU kernels take no {missing.args[0]!r}") from None
        return places, list(tensors.values()), values

    def _dict(self, result: tuple[list[int], list[torch.Tensor]]) -> dict[str, torch.Tensor]:
        names = self.tensor_names
        return {names[i]: t for i, t in zip(*result)}

    def forward(self, cell: str, tensors: dict[str, torch.Tensor], options: dict[str, float]) -> dict[str, torch.Tensor]:
        return self._dict(self._forward(cell, *self._lists(tensors, options)))

    def backward(self, cell: str, tensors: dict[str, torch.Tensor], options: dict[str, float]) -> dict[str, torch.Tensor]:
        return self._dict(self._backward(cell, *self._lists(tensors, options)))


_cpu_backend: _CpuBackend | None = None


def activation_id(fn: activations.Activation) -> int | None:
    """The kernels' id for a registry activation (aliases included); None for a user callable."""
    name = activations.serialize(fn)
    if not isinstance(name, str):
        return None
    canonical = activations.get(name)
    for known, i in ACTIVATION_IDS.items():
        if activations.get(known) is canonical:
            return i
    return None


def unsupported(cell: RecurrentCell, x: torch.Tensor) -> str | None:
    """Why the fused path cannot run this cell on this input, or None when it can."""
    if type(cell) not in FUSED_CELLS:
        return f"the cell is a {type(cell).__name__}, whose step the fused kernels do not implement"
    for attr in ("activation", "recurrent_activation"):
        fn = getattr(cell, attr, None)
        if fn is not None and activation_id(fn) is None:
            return (f"{attr} {getattr(fn, '__name__', fn)!r} is not one of lstmkit's built-in activations, "
                    "which are the ones compiled into the fused kernels")
    device = cell.kernel.device
    if x.device != device:
        return f"the input is on {x.device} and the weights on {device}"
    if device.type == "cuda":
        if cell.kernel.dtype != torch.float32:
            return f"the fused GPU kernels take float32 weights, not {cell.kernel.dtype}"
        from . import gpu

        return gpu.unavailable()
    if device.type != "cpu":
        return f"the fused kernels run on CPU and CUDA devices, and this layer runs on {x.device}"
    if cell.kernel.dtype not in (torch.float32, torch.float64):
        return f"the fused kernels take float32 and float64 weights, not {cell.kernel.dtype}"
    if not build.load():
        return build.failure()
    return None


def backend_for(x: torch.Tensor) -> Backend:
    global _cpu_backend
    if x.device.type == "cpu" and not _force_triton:
        if _cpu_backend is None:
            _cpu_backend = _CpuBackend()
        return _cpu_backend
    from . import gpu

    return gpu.BACKEND


# True: CPU tensors go to the Triton kernels too (the tests run them so, under Triton's
# interpreter, where no GPU is at hand).
_force_triton = False


@dataclass
class FusedCall:
    """One cell over one sequence: its name, tensors and options by name."""

    cell: str
    tensors: dict[str, torch.Tensor | None] = field(default_factory=dict)
    options: dict[str, float] = field(default_factory=dict)
    n_states: int = 1

    @classmethod
    def of(cls, cell: RecurrentCell, x: torch.Tensor, state: tuple[torch.Tensor, ...], mask: torch.Tensor | None,
           rmask: torch.Tensor | None, zoneout_masks: torch.Tensor | None, zero_output: bool,
           return_sequences: bool) -> FusedCall:
        """x (T, B, D) and mask (T, B) time-major; the cell's weights and options."""
        b = cell.input_bias() if cell.bias is not None else None
        tensors: dict[str, torch.Tensor | None] = {
            "x": x, "W": cell.kernel, "b": b, "U": cell.recurrent_kernel, "h0": state[0],
            "mask": mask, "rmask": None if rmask is None else rmask.contiguous(),
        }
        options: dict[str, float] = {
            "act": float(activation_id(cell.activation) or 0), "zero_output": float(zero_output),
            "return_sequences": float(return_sequences),
        }
        if isinstance(cell, LSTMCell):
            tensors["c0"] = state[1]
            options.update(ract=float(activation_id(cell.recurrent_activation) or 0), peephole=float(cell.peephole),
                           layer_norm=float(cell.layer_norm), eps=float(cell.layer_norm_epsilon),
                           zoneout=float(cell.zoneout))
            if cell.peephole:
                tensors["peep"] = torch.stack([cell.input_gate_peephole, cell.forget_gate_peephole,
                                               cell.output_gate_peephole])
            if cell.layer_norm:
                tensors.update(gx=cell.input_gamma, gh=cell.recurrent_gamma, gc=cell.cell_gamma, bc=cell.cell_beta)
            tensors["zone"] = None if zoneout_masks is None else zoneout_masks.contiguous()
            return cls("lstm", tensors, options, 2)
        if isinstance(cell, GRUCell):
            options.update(ract=float(activation_id(cell.recurrent_activation) or 0),
                           reset_after=float(cell.reset_after))
            if cell.reset_after and cell.bias is not None:
                tensors["b_r"] = cell.bias[1]
            return cls("gru", tensors, options, 1)
        return cls("simple_rnn", tensors, options, 1)

    def given(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.tensors.items() if v is not None}


class _Fused(torch.autograd.Function):
    """Any cell on any backend: the tensors arrive as (names, *values) so autograd sees each."""

    @staticmethod
    def forward(ctx: Any, cell: str, options: dict[str, float], names: tuple[str, ...], *values: torch.Tensor):  # type: ignore[override]
        tensors = dict(zip(names, values))
        backend = backend_for(values[0])
        result = backend.forward(cell, tensors, {**options, "save": 1.0})
        out, h = result.pop("out"), result.pop("h")
        c = result.pop("c", None)
        # what the backward needs besides the saved tensors: the gradients' shapes, the options
        ctx.cell, ctx.backend, ctx.names = cell, backend, (*names, *result)
        ctx.shapes = (out.shape, h.shape)
        backward_options = dict(options)
        backward_options["need_dx"] = float(ctx.needs_input_grad[3 + names.index("x")])
        ctx.backward_options = backward_options
        ctx.save_for_backward(*values, *result.values())
        return (out, h) if c is None else (out, h, c)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, *grads: torch.Tensor | None):  # type: ignore[override]
        tensors = dict(zip(ctx.names, ctx.saved_tensors))
        x = tensors["x"]
        out_shape, state_shape = ctx.shapes
        for name, g, shape in zip(("grad_out", "grad_h", "grad_c"), grads, (out_shape, state_shape, state_shape)):
            tensors[name] = g if g is not None else x.new_zeros(shape, dtype=tensors["U"].dtype)
        got = ctx.backend.backward(ctx.cell, tensors, ctx.backward_options)
        needs = ctx.needs_input_grad
        return (None, None, None,
                *(got.get(n) if needs[3 + i] else None for i, n in enumerate(ctx.names[:len(needs) - 3])))


def _needs_grad(tensors: dict[str, torch.Tensor]) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors.values())


def run_call(call: FusedCall) -> tuple[torch.Tensor, ...]:
    """(out, h) or (out, h, c) of one call, through autograd when a gradient is wanted."""
    tensors = call.given()
    if _needs_grad(tensors):
        return _Fused.apply(call.cell, call.options, tuple(tensors), *tensors.values())
    result = backend_for(tensors["x"]).forward(call.cell, tensors, {**call.options, "save": 0.0})
    return (result["out"], result["h"], result["c"]) if call.n_states == 2 else (result["out"], result["h"])


def fused_sequence(
    cell: RecurrentCell,
    x: torch.Tensor,
    state: tuple[torch.Tensor, ...],
    *,
    mask: torch.Tensor | None,
    recurrent_mask: torch.Tensor | None,
    return_sequences: bool,
    zero_output_for_mask: bool,
    zoneout_masks: torch.Tensor | None = None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """The fused counterpart of `reference_sequence`, from the raw input x (B, T, D).

    Returns the outputs (B, T, H) (a transposed view of the time-major result) or the last output
    (B, H), and the final state.
    """
    x_tm = x.transpose(0, 1)  # (T, B, D); the kernels project all steps in one product
    mask_tm = None if mask is None else mask.t().contiguous()  # (T, B)
    call = FusedCall.of(cell, x_tm, state, mask_tm, recurrent_mask, zoneout_masks, bool(zero_output_for_mask),
                        bool(return_sequences))
    out, *new_state = run_call(call)
    return (out.transpose(0, 1) if return_sequences else out), tuple(new_state)
