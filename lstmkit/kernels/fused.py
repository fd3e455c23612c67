"""The fused CPU path: autograd functions around the compiled kernels of `csrc/fused_cpu.cpp`.

Each function takes the time-major inputs x (T, B, D), the cell's weights and the initial state,
and returns the outputs, time-major, and the final state; its backward returns the gradients of
x, the weights and the initial state. The kernels do the input projection of all steps as one
matrix product, the time loop, and the weight gradients as one product over all steps.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.function import once_differentiable

from .. import activations
from ..cells import GRUCell, LSTMCell, RecurrentCell, SimpleRNNCell
from ..cells.lstm import CuDNNLSTMCell
from . import build

# Activation ids shared with the C++ `Act` enum, in its order.
ACTIVATION_IDS: dict[str, int] = {
    name: i
    for i, name in enumerate([
        "linear", "tanh", "sigmoid", "hard_sigmoid", "relu", "relu6", "leaky_relu", "elu", "selu",
        "softplus", "softsign", "silu", "hard_silu", "gelu", "mish", "exponential", "softmax",
        "log_softmax", "log_sigmoid", "tanh_shrink", "hard_tanh",
    ])
}

FUSED_CELLS = (LSTMCell, CuDNNLSTMCell, GRUCell, SimpleRNNCell)


def activation_id(fn: activations.Activation) -> int | None:
    """The kernel's id for a registry activation (aliases included); None for a user callable."""
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
    if cell.kernel.device.type != "cpu" or x.device.type != "cpu":
        return f"the fused kernels run on CPU, and this layer runs on {x.device}"
    if cell.kernel.dtype not in (torch.float32, torch.float64):
        return f"the fused kernels take float32 and float64 weights, not {cell.kernel.dtype}"
    if not build.load():
        return build.failure()
    return None


def _ops() -> Any:
    return torch.ops.lstmkit_fused


def _needs_grad(*tensors: torch.Tensor | None) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _grad_or_zeros(g: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(like) if g is None else g


def _projection_grads(ctx: Any, dx: torch.Tensor, dW: torch.Tensor, db: torch.Tensor) -> tuple[Any, Any, Any]:
    x_grad, _, b_grad = ctx.needs_input_grad[:3]
    return (dx if x_grad else None), dW, (db if b_grad else None)


class _LSTM(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x, W, b, U, h0, c0, peep, gx, gh, gc, bc, mask, rmask, zone, options):  # type: ignore[override]
        zoneout_p, eps, act, ract, zero_output, return_sequences = options
        out, h, c, *saved = _ops().lstm_forward(x, W, b, U, h0, c0, mask, rmask, peep, gx, gh, gc, bc, zone,
                                                zoneout_p, eps, act, ract, zero_output, return_sequences, True)
        ctx.save_for_backward(x, W, U, mask, rmask, peep, gx, gh, gc, zone, *saved)
        ctx.options = options
        ctx.has_bias = b is not None
        return out, h, c

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out, g_h, g_c):  # type: ignore[override]
        x, W, U, mask, rmask, peep, gx, gh, gc, zone, *saved = ctx.saved_tensors
        CS, HIN = saved[5], saved[4]  # saved = Z, A, CN, PC, HIN, CS, NX, RX, NH, RH, NC, RC, CI
        zoneout_p, eps, act, ract, zero_output, return_sequences = ctx.options
        h_like = CS[0]
        out_like = HIN if return_sequences else h_like
        dx, dW, db, dU, dh0, dc0, dpeep, dgx, dgh, dgc, dbc = _ops().lstm_backward(
            _grad_or_zeros(g_out, out_like), _grad_or_zeros(g_h, h_like), _grad_or_zeros(g_c, h_like),
            x, W, U, mask, rmask, peep, gx, gh, gc, zone, zoneout_p, *saved,
            act, ract, zero_output, return_sequences, ctx.has_bias, ctx.needs_input_grad[0])
        needs = ctx.needs_input_grad
        extras = [g if (need and g.numel()) else None for g, need in zip((dpeep, dgx, dgh, dgc, dbc), needs[6:11])]
        return (*_projection_grads(ctx, dx, dW, db), dU, dh0, dc0, *extras, None, None, None, None)


class _GRU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x, W, b, U, b_r, h0, mask, rmask, act, ract, reset_after, zero_output, return_sequences):  # type: ignore[override]
        out, h, *saved = _ops().gru_forward(x, W, b, U, b_r, h0, mask, rmask, act, ract, reset_after, zero_output,
                                            return_sequences, True)
        ctx.save_for_backward(x, W, U, mask, rmask, *saved)
        ctx.flags = (act, ract, reset_after, zero_output, return_sequences, b is not None)
        return out, h

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out, g_h):  # type: ignore[override]
        x, W, U, mask, rmask, PRE, A, HU, RH, HIN, HS = ctx.saved_tensors
        act, ract, reset_after, zero_output, return_sequences, has_bias = ctx.flags
        h_like = HS[0]
        out_like = HIN if return_sequences else h_like
        dx, dW, db, dU, d_br, dh0 = _ops().gru_backward(
            _grad_or_zeros(g_out, out_like), _grad_or_zeros(g_h, h_like), x, W, U, mask, rmask,
            PRE, A, HU, RH, HIN, HS, act, ract, reset_after, zero_output, return_sequences,
            has_bias, ctx.needs_input_grad[0])
        d_br = d_br if ctx.needs_input_grad[4] else None
        return (*_projection_grads(ctx, dx, dW, db), dU, d_br, dh0, None, None, None, None, None, None, None)


class _SimpleRNN(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x, W, b, U, h0, mask, rmask, act, zero_output, return_sequences):  # type: ignore[override]
        out, h, *saved = _ops().rnn_forward(x, W, b, U, h0, mask, rmask, act, zero_output, return_sequences, True)
        ctx.save_for_backward(x, W, U, mask, rmask, *saved)
        ctx.flags = (act, zero_output, return_sequences, b is not None)
        return out, h

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out, g_h):  # type: ignore[override]
        x, W, U, mask, rmask, Z, A, HIN = ctx.saved_tensors
        act, zero_output, return_sequences, has_bias = ctx.flags
        h_like = HIN[0]
        out_like = HIN if return_sequences else h_like
        dx, dW, db, dU, dh0 = _ops().rnn_backward(
            _grad_or_zeros(g_out, out_like), _grad_or_zeros(g_h, h_like), x, W, U, mask, rmask, Z, A, HIN,
            act, zero_output, return_sequences, has_bias, ctx.needs_input_grad[0])
        return (*_projection_grads(ctx, dx, dW, db), dU, dh0, None, None, None, None, None)


def _lstm_sequence(
    cell: LSTMCell,
    x: torch.Tensor,
    state: tuple[torch.Tensor, ...],
    mask: torch.Tensor | None,
    rmask: torch.Tensor | None,
    zoneout_masks: torch.Tensor | None,
    zero_output: bool,
    return_sequences: bool,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """An LSTM over time-major x (T, B, D): (outputs, time-major, or the last one; (h, c))."""
    W, U = cell.kernel, cell.recurrent_kernel
    b: torch.Tensor | None = cell.input_bias() if cell.bias is not None else None
    peep: torch.Tensor | None = None
    gx: torch.Tensor | None = None
    gh: torch.Tensor | None = None
    gc: torch.Tensor | None = None
    bc: torch.Tensor | None = None
    if cell.peephole:
        peep = torch.stack([cell.input_gate_peephole, cell.forget_gate_peephole, cell.output_gate_peephole])
    if cell.layer_norm:
        gx, gh, gc, bc = cell.input_gamma, cell.recurrent_gamma, cell.cell_gamma, cell.cell_beta
    zone = None if zoneout_masks is None else zoneout_masks.contiguous()
    options = (cell.zoneout, cell.layer_norm_epsilon, activation_id(cell.activation),
               activation_id(cell.recurrent_activation), zero_output, return_sequences)
    h0, c0 = state
    if _needs_grad(x, W, b, U, h0, c0, peep, gx, gh, gc, bc):
        out, h, c = _LSTM.apply(x, W, b, U, h0, c0, peep, gx, gh, gc, bc, mask, rmask, zone, options)
    else:
        out, h, c = _ops().lstm_forward(x, W, b, U, h0, c0, mask, rmask, peep, gx, gh, gc, bc, zone, *options, False)
    return out, (h, c)


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
    rmask = None if recurrent_mask is None else recurrent_mask.contiguous()
    W, U = cell.kernel, cell.recurrent_kernel
    b = cell.input_bias() if cell.bias is not None else None
    zo, rs = bool(zero_output_for_mask), bool(return_sequences)
    act = activation_id(cell.activation)
    grad = _needs_grad(x, W, U, b, *state)
    if isinstance(cell, LSTMCell):
        out, new_state = _lstm_sequence(cell, x_tm, state, mask_tm, rmask, zoneout_masks, zo, rs)
    elif isinstance(cell, GRUCell):
        ract = activation_id(cell.recurrent_activation)
        b_r = cell.bias[1] if (cell.bias is not None and cell.reset_after) else None
        (h0,) = state
        if grad:
            out, h = _GRU.apply(x_tm, W, b, U, b_r, h0, mask_tm, rmask, act, ract, cell.reset_after, zo, rs)
        else:
            out, h = _ops().gru_forward(x_tm, W, b, U, b_r, h0, mask_tm, rmask, act, ract, cell.reset_after, zo, rs,
                                        False)[:2]
        new_state = (h,)
    else:
        (h0,) = state
        if grad:
            out, h = _SimpleRNN.apply(x_tm, W, b, U, h0, mask_tm, rmask, act, zo, rs)
        else:
            out, h = _ops().rnn_forward(x_tm, W, b, U, h0, mask_tm, rmask, act, zo, rs, False)[:2]
        new_state = (h,)
    return (out.transpose(0, 1) if rs else out), new_state
