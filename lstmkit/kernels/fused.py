"""The fused path: one autograd function over two backends that run a whole sequence.

- CPU: the compiled kernels of `csrc/` (one C++ time loop every cell plugs into), built by
  `build.py`;
- CUDA: `gpu/`, the same loop in Python over Triton kernels, one recurrent product and one
  fused pointwise kernel per step.

Both take the same call: `forward(cell, tensors, options)` and `backward(cell, tensors, options)`,
where `cell` is the cell's `kernel_name` ("lstm", "gru", "simple_rnn"), and tensors and options
are dictionaries by name: the loop's (x, W, b, U, h0, c0, mask, rmask; zero_output,
return_sequences, final_states, save, need_dx) and the cell's own, as the cell gives them (`kernel_tensors`,
`kernel_options`) and each backend's cell declares them. Options are typed: integers and flags
as int or bool, numbers as float; every one is given. The forward returns "out", "h" (and "c")
and, with `save`, what its backward needs; the backward returns each input's gradient under the
input's name. Inputs are time-major: x (T, B, D), mask (T, B).
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import torch
from torch.autograd.function import once_differentiable

from .. import activations
from ..cells import KernelCell, SequenceCell, as_kernel_cell
from . import build, recompute

# Activation ids shared with the C++ `Act` enum and the Triton kernels, in their order.
ACTIVATION_IDS: dict[str, int] = {
    name: i
    for i, name in enumerate([
        "linear", "tanh", "sigmoid", "hard_sigmoid", "relu", "relu6", "leaky_relu", "elu", "selu",
        "softplus", "softsign", "silu", "hard_silu", "gelu", "mish", "exponential", "softmax",
        "log_softmax", "log_sigmoid", "tanh_shrink", "hard_tanh",
    ])
}

STATE_NAMES = ("h0", "c0")  # the initial states, in the cell's state order
GRAD_NAMES = ("grad_out", "grad_h", "grad_c")  # the backward's gradients of out, h and c


def arriving_gradients(grads: Sequence[torch.Tensor | None], shapes: Sequence[Sequence[int]],
                       like: torch.Tensor) -> list[torch.Tensor]:
    """The gradients reaching out, h (and c), zeros (`like`'s dtype and device) where autograd
    gives none."""
    return [g if g is not None else like.new_zeros(tuple(shape)) for g, shape in zip(grads, shapes)]

Options = dict[str, Any]  # name -> int, bool or float


class Backend(Protocol):
    def forward(self, cell: str, tensors: dict[str, torch.Tensor], options: Options) -> dict[str, torch.Tensor]: ...

    def backward(self, cell: str, tensors: dict[str, torch.Tensor], options: Options) -> dict[str, torch.Tensor]: ...


def typed_options(label: str, options: Options, ints: Sequence[str], floats: Sequence[str]) -> tuple[list[int], list[float]]:
    """The options as the kernels of one cell take them: its integer options in order, then its
    real ones. A missing, unknown or mistyped option is an error naming it."""
    unknown = sorted(set(options) - set(ints) - set(floats))
    if unknown:
        raise KeyError(f"the fused kernels' {label} take no option {unknown[0]!r} (they take {', '.join([*ints, *floats])})")
    try:
        int_values = [options[n] for n in ints]
        float_values = [options[n] for n in floats]
    except KeyError as missing:
        raise KeyError(f"the fused kernels' {label}: missing option {missing.args[0]!r}") from None
    for n, v in zip(ints, int_values):
        if not isinstance(v, (bool, int)):
            raise TypeError(f"the fused kernels' {label}: option {n!r} is an integer or a flag, got {v!r}")
    for n, v in zip(floats, float_values):
        if not isinstance(v, float):
            raise TypeError(f"the fused kernels' {label}: option {n!r} is a real number (float), got {v!r}")
    return [int(v) for v in int_values], float_values


@dataclass(frozen=True)
class Signature:
    """One cell's names in the compiled kernels, as their `describe` operator lists them."""

    tensors: tuple[str, ...]
    ints: tuple[str, ...]
    floats: tuple[str, ...]
    places: dict[str, int] = field(default_factory=dict)


class _CpuBackend:
    """The compiled kernels. Their operators take each tensor with its name's place in the cell's
    tensor list and the options as two typed lists (`describe(cell)` gives the three lists); this
    turns the dictionaries into those lists and back."""

    def __init__(self) -> None:
        ops = torch.ops.lstmkit_fused
        self._forward, self._backward, self._describe = ops.forward, ops.backward, ops.describe
        self._signatures: dict[str, Signature] = {}

    def signature(self, cell: str) -> Signature:
        if cell not in self._signatures:
            tensors, ints, floats = self._describe(cell)
            self._signatures[cell] = Signature(tuple(tensors), tuple(ints), tuple(floats),
                                               {n: i for i, n in enumerate(tensors)})
        return self._signatures[cell]

    def _call(self, op: Any, cell: str, tensors: dict[str, torch.Tensor], options: Options) -> dict[str, torch.Tensor]:
        sig = self.signature(cell)
        try:
            places = [sig.places[n] for n in tensors]
        except KeyError as unknown:
            raise KeyError(f"the fused CPU kernels' {cell} take no tensor {unknown.args[0]!r}") from None
        ints, floats = typed_options(cell, options, sig.ints, sig.floats)
        got_places, got = op(cell, places, list(tensors.values()), ints, floats)
        return {sig.tensors[i]: t for i, t in zip(got_places, got)}

    def forward(self, cell: str, tensors: dict[str, torch.Tensor], options: Options) -> dict[str, torch.Tensor]:
        return self._call(self._forward, cell, tensors, options)

    def backward(self, cell: str, tensors: dict[str, torch.Tensor], options: Options) -> dict[str, torch.Tensor]:
        for grad, state in zip(GRAD_NAMES[1:], STATE_NAMES):  # a final state's missing gradient: zeros
            if grad not in tensors and state in tensors:
                tensors[grad] = tensors[state].new_zeros(tensors[state].shape, dtype=tensors["U"].dtype)
        return self._call(self._backward, cell, tensors, options)


_cpu_backend: _CpuBackend | None = None


def activation_id(fn: activations.Activation) -> int | None:
    """The kernels' id for a registry activation (aliases included); None for a user callable.
    Asked at every layer call: each answer is kept (an unhashable callable is asked anew)."""
    try:
        return _ACTIVATION_IDS_SEEN[fn]
    except (KeyError, TypeError):
        pass
    found = None
    name = activations.serialize(fn)
    if isinstance(name, str):
        canonical = activations.get(name)
        found = next((i for known, i in ACTIVATION_IDS.items() if activations.get(known) is canonical), None)
    with contextlib.suppress(TypeError):
        _ACTIVATION_IDS_SEEN[fn] = found
    return found


_ACTIVATION_IDS_SEEN: dict[Any, int | None] = {}


def unsupported(cell: SequenceCell, x: torch.Tensor) -> str | None:
    """Why the fused path cannot run this cell on this input, or None when it can.

    A decision on the cell's settings and its weights' place, not on data: a traced graph
    (torch.compile, torch.export) takes it as a constant. The tracer follows this function
    through the cell and its settings; the rest (the activation registry, the backends' state)
    comes from constant functions of plain values, which every torch version's tracer passes
    (a module it does not pass before torch 2.13)."""
    known = as_kernel_cell(cell)
    if known is None:
        return f"the cell is a {type(cell).__name__}, whose step the fused kernels do not implement"
    refusal = known.kernel_refusal()
    if refusal is not None:
        return refusal
    for name in _activation_fields(type(known.settings)):
        value = getattr(known.settings, name)
        if not _built_in(value):
            return (f"{name} {getattr(value, '__name__', value)!r} is not one of lstmkit's built-in activations, "
                    "which are the ones compiled into the fused kernels")
    device = known.kernel.device
    if x.device != device:
        return f"the input is on {x.device} and the weights on {device}"
    return _backend_refusal(device, known.kernel.dtype, known.kernel_name)


@torch.compiler.assume_constant_result
def _activation_fields(settings_class: type) -> tuple[str, ...]:
    """The names of the settings' activation fields."""
    if settings_class not in _ACTIVATION_FIELDS:
        _ACTIVATION_FIELDS[settings_class] = tuple(
            f.name for f in dataclasses.fields(settings_class) if f.metadata.get("activation"))
    return _ACTIVATION_FIELDS[settings_class]


@torch.compiler.assume_constant_result
def _built_in(activation: activations.Activation) -> bool:
    return activation_id(activation) is not None


_ACTIVATION_FIELDS: dict[type, tuple[str, ...]] = {}  # by settings class (asked at every layer call)


@torch.compiler.assume_constant_result
def _backend_refusal(device: torch.device, dtype: torch.dtype, kernel_name: str) -> str | None:
    """Why the backend of the device cannot run the cell with weights of this dtype, or None."""
    if device.type == "cuda":
        if dtype != torch.float32:
            return f"the fused GPU kernels take float32 weights, not {dtype}"
        from . import gpu

        missing = gpu.unavailable()
        if missing is None and kernel_name not in gpu.cell_names():
            return f"the fused GPU kernels have no {kernel_name} cell yet"
        return missing
    if device.type != "cpu":
        return f"the fused kernels run on CPU and CUDA devices, and this layer runs on {device}"
    if dtype not in (torch.float32, torch.float64):
        return f"the fused kernels take float32 and float64 weights, not {dtype}"
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
    """One cell over one sequence: its kernels' name, tensors and options by name."""

    cell: str
    tensors: dict[str, torch.Tensor | None] = field(default_factory=dict)
    options: Options = field(default_factory=dict)
    n_states: int = 1
    owner: str = ""  # the layer, for messages: "LSTM layer 'lstm'"

    @classmethod
    def of(cls, cell: KernelCell, x: torch.Tensor, state: tuple[torch.Tensor, ...], mask: torch.Tensor | None,
           rmask: torch.Tensor | None, noise: torch.Tensor | None, zero_output: bool,
           return_sequences: bool, owner: str = "", final_states: bool = True) -> FusedCall:
        """x (T, B, ...) and mask (T, B) time-major; the cell's weights, own tensors and options.
        `final_states`: the caller keeps the final states (else the kernels may return views of
        their buffers, sparing a copy each)."""
        assert cell.kernel_name is not None
        tensors = cell.loop_tensors(x)
        tensors.update(mask=mask, rmask=None if rmask is None else rmask.contiguous())
        tensors.update(zip(STATE_NAMES, state))
        tensors.update(cell.kernel_tensors(None if noise is None else noise.contiguous()))
        options: Options = {"zero_output": zero_output, "return_sequences": return_sequences,
                            "final_states": final_states}
        for name, value in cell.kernel_options().items():
            options[name] = activation_id(value) if callable(value) else value
        return cls(cell.kernel_name, tensors, options, len(state), owner)

    def given(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.tensors.items() if v is not None}


class _Fused(torch.autograd.Function):
    """Any cell on any backend: the tensors arrive as (names, *values) so autograd sees each."""

    @staticmethod
    def forward(ctx: Any, cell: str, options: Options, names: tuple[str, ...], *values: torch.Tensor):  # type: ignore[override]
        tensors = dict(zip(names, values))
        backend = backend_for(values[0])
        result = backend.forward(cell, tensors, {**options, "save": True, "need_dx": True})
        out, h = result.pop("out"), result.pop("h")
        c = result.pop("c", None)
        # what the backward needs besides the saved tensors: the gradients' shapes, the options
        ctx.cell, ctx.backend, ctx.names = cell, backend, (*names, *result)
        ctx.shapes = (out.shape, h.shape)
        backward_options = dict(options)
        backward_options["save"] = False
        backward_options["need_dx"] = bool(ctx.needs_input_grad[3 + names.index("x")])
        ctx.backward_options = backward_options
        ctx.set_materialize_grads(False)  # h's and c's gradients: None when unused (most calls)
        ctx.save_for_backward(*values, *result.values())
        return (out, h) if c is None else (out, h, c)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, *grads: torch.Tensor | None):  # type: ignore[override]
        tensors = dict(zip(ctx.names, ctx.saved_tensors))
        x = tensors["x"]
        out_shape, _ = ctx.shapes
        grad_out, *state_grads = grads
        tensors["grad_out"] = grad_out if grad_out is not None else x.new_zeros(out_shape, dtype=tensors["U"].dtype)
        # the final states' gradients only where they arrive: a backend takes a missing one as zeros
        tensors.update((n, g) for n, g in zip(GRAD_NAMES[1:], state_grads) if g is not None)
        got = ctx.backend.backward(ctx.cell, tensors, ctx.backward_options)
        needs = ctx.needs_input_grad
        return (None, None, None,
                *(got.get(n) if needs[3 + i] else None for i, n in enumerate(ctx.names[:len(needs) - 3])))


def _needs_grad(tensors: dict[str, torch.Tensor]) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors.values())


def run_call(call: FusedCall) -> tuple[torch.Tensor, ...]:
    """(out, h) or (out, h, c) of one call, through autograd when a gradient is wanted; as graph
    operators (ops.py) under `torch.compile` and `torch.export`."""
    if torch.compiler.is_compiling():
        from . import ops

        return ops.run_call(call)
    tensors = call.given()
    if _needs_grad(tensors):
        return _Fused.apply(call.cell, call.options, tuple(tensors), *tensors.values())
    result = backend_for(tensors["x"]).forward(call.cell, tensors, {**call.options, "save": False, "need_dx": False})
    return (result["out"], result["h"], result["c"]) if call.n_states == 2 else (result["out"], result["h"])


def fused_sequence(
    cell: KernelCell,
    x: torch.Tensor,
    state: tuple[torch.Tensor, ...],
    settings: Any,
    *,
    mask: torch.Tensor | None,
    recurrent_mask: torch.Tensor | None,
    noise: torch.Tensor | None = None,
    owner: str = "",
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """The fused counterpart of `reference_sequence`, from the raw input x (B, T, D); `settings`
    (a `SequenceSettings`) gives return_sequences, zero_output_for_mask, and whether the final
    state is kept (return_state, stateful).

    Returns the outputs (B, T, H) (a transposed view of the time-major result) or the last output
    (B, H), and the final state.
    """
    # (T, B, D) time-major, laid out so once here: the forward and the backward both read it (the
    # kernels project all steps in one product), and a view would be copied by each
    x_tm = x.transpose(0, 1).contiguous()
    mask_tm = None if mask is None else mask.t().contiguous()  # (T, B)
    return_sequences = bool(settings.return_sequences)
    zero_output = bool(settings.zero_output_for_mask)

    length = None  # steps per recomputed segment (recompute.py), where a backward would keep too much
    if torch.is_grad_enabled() and not torch.compiler.is_compiling():  # (a graph keeps no buffers: ops.py)
        T, B = x_tm.shape[:2]
        estimate = recompute.kept_bytes(T, B, state[0][0].numel() if B else 0, cell.gate_blocks, x.element_size())
        length = recompute.segment_steps(T, estimate, cell, x.device)
    # the final states as tensors of their own where they are kept: returned by the layer, carried
    # to its next call or to the next segment, or a graph's (whose operators return no views)
    final_states = (bool(settings.return_state or settings.stateful) or length is not None
                    or torch.compiler.is_compiling())

    def run(xs: torch.Tensor, s: tuple[torch.Tensor, ...], m: torch.Tensor | None,
            nz: torch.Tensor | None) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        out, *new_state = run_call(FusedCall.of(cell, xs, s, m, recurrent_mask, nz, zero_output, return_sequences,
                                                owner, final_states))
        # the kernels' rows of H values, shaped as the states (the convolutional cell's (F, *S))
        return out.view(*out.shape[:-2], *s[0].shape), tuple(n.view(s[0].shape) for n in new_state)

    if length is None:
        out, new_state = run(x_tm, state, mask_tm, noise)
    else:
        out, new_state = recompute.run_segments(run, x_tm, state, mask_tm, noise, length=length,
                                                return_sequences=return_sequences, zero_output=zero_output)
    return (out.transpose(0, 1) if return_sequences else out), new_state
