"""The GPU time loop, forward and backward, that every cell plugs into (the counterpart of
csrc/skeleton.h): per step, the cell's recurrent product (cuBLAS, through torch.mm) and one fused
Triton kernel of its pointwise part, one program per batch row.

The loop owns the carried states (T + 1 slots, slot t the state before step t), the recurrent
inputs h·rmask (slot t feeds step t), the outputs and, backward, the gradients reaching each
step: `DH`, `DC` (the carried states'), `BACK` (the last product's, still to be multiplied by
rmask and added to DH by the next kernel) and `CARRY` (what a masked step passes to the output
before it). The helpers below are the loop's share of every kernel: the masking rule, the
outputs and recurrent inputs, and the gradient arriving at a step.

Two drivers run the steps. **Per step** (`steps`): for each t, torch.mm and one launch of the
cell's kernel with `steps=1`. **One kernel for the sequence** (`sequence`): one launch with
`steps=T`, each program (a batch row) looping over time and computing its row of the recurrent
product itself (`row_times`, `row_times_transposed`: U streamed from the GPU's cache every step),
a barrier between the product, the pointwise part and the next step, since the threads that write
a step's state are not those that read it. Both run the same kernel source: the cell's step is
written once, the driver is a compile-time option (`SEQUENCE`). The sequence kernel saves the
2 T launches from Python that dominate a small batch's step; the per-step driver keeps cuBLAS's
product for wide layers and large batches, where streaming U once per row and step costs more
than the launches. `whole_sequence` chooses (`LSTMKIT_GPU_LOOP`: `auto`, `steps`, `sequence`).

Every kernel takes its first step t0 and the number of steps as plain arguments
(`do_not_specialize`: Triton would otherwise compile apart for t = 1 and for multiples of 16), so
one compilation serves every step.

The loop's names at the boundary are `LOOP_TENSORS` and `LOOP_INTS` (those of csrc/skeleton.h);
each cell declares its own (`names`: a `CellNames`), as its C++ counterpart does.

A cell (lstm.py, gru.py, simple_rnn.py) provides `prepare(seq)` (its buffers, the input term of
every step and its kernels' arguments, once per sequence), `forward_step(seq, t)` and
`forward_sequence(seq)`, the buffers it saves (`saved()`), `start_backward(seq)`,
`backward_step(seq, t)` and `backward_sequence(seq)`, `finish_backward(seq, grads)`, and says
whether the bias joins x W before the loop (`bias_in_projection`) and whether its kernels run a
whole sequence (`sequence_kernel`: not the convolutional cell's).
"""

import contextlib
import functools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import triton
import triton.language as tl

from ... import mixed_precision
from ...cells import is_zero_state


LOOP_TENSORS = ("x", "W", "b", "U", "h0", "c0", "mask", "rmask", "out", "h", "c", "H", "C", "HIN", "grad_out",
                "grad_h", "grad_c")
LOOP_INTS = ("zero_output", "return_sequences", "final_states", "save", "need_dx")


@dataclass(frozen=True)
class CellNames:
    """What a cell adds to the loop's names: its own tensors, what it saves, its integer and its
    real-valued options."""

    inputs: tuple[str, ...]
    saved: tuple[str, ...]
    ints: tuple[str, ...]
    floats: tuple[str, ...]


DRIVERS = ("auto", "steps", "sequence")
# auto: one kernel for the sequence where each program's share of the recurrent weights per step
# (U's bytes times the rows an SM holds) stays within this; per step beyond it. A first estimate
# (an SM reads on the order of 100 GB/s from L2: 2 MiB is ~20 µs, two launches from Python):
# `lstmkit bench --device cuda` prints both drivers for the device to settle it.
SEQUENCE_BYTES = 2 * 2**20
_driver: str | None = None  # set by `driven_by`; else $LSTMKIT_GPU_LOOP, else auto


def driver() -> str:
    """The GPU loop's driver: `driven_by`'s, else $LSTMKIT_GPU_LOOP's, else auto."""
    chosen = _driver if _driver is not None else os.environ.get("LSTMKIT_GPU_LOOP", "auto")
    if chosen not in DRIVERS:
        raise ValueError(f"LSTMKIT_GPU_LOOP={chosen!r}: the GPU loop is driven by one of {', '.join(DRIVERS)}")
    return chosen


@contextlib.contextmanager
def driven_by(name: str) -> Iterator[None]:
    """Runs the GPU loop with the driver given (forward and backward inside the block)."""
    global _driver
    if name not in DRIVERS:
        raise ValueError(f"driven_by({name!r}): the GPU loop is driven by one of {', '.join(DRIVERS)}")
    before, _driver = _driver, name
    try:
        yield
    finally:
        _driver = before


@triton.jit
def row_times(V, U, OUT, H, GH, col0, BIAS, G: tl.constexpr, HAS_BIAS: tl.constexpr, BLOCK: tl.constexpr,
              BLOCK_K: tl.constexpr, BLOCK_N: tl.constexpr):
    """OUT[c] = Σ_i V[i] U[i, col0 + c] (+ BIAS[c]) for c < G·H: a row's recurrent product inside
    the sequence kernel; U (H, GH) row-major, float32 sums over tiles of BLOCK_K rows by BLOCK_N
    columns. The loops run over the padded row (BLOCK), so their bounds are compile-time."""
    for g in range(G):
        for n0 in range(0, BLOCK, BLOCK_N):
            n = n0 + tl.arange(0, BLOCK_N)
            nv = n < H
            c = g * H + n
            acc = tl.zeros([BLOCK_N], dtype=tl.float32)
            for k0 in range(0, BLOCK, BLOCK_K):
                i = k0 + tl.arange(0, BLOCK_K)
                iv = i < H
                v = tl.load(V + i, iv, other=0.0)
                u = tl.load(U + i[:, None] * GH + col0 + c[None, :], (iv[:, None] & nv[None, :]) != 0, other=0.0)
                acc += tl.sum(v[:, None] * u, 0)
            if HAS_BIAS:
                acc += tl.load(BIAS + c, nv, other=0.0)
            tl.store(OUT + c, acc, mask=nv)


@triton.jit
def row_times_transposed(D, U, OUT, H, GH, col0, G: tl.constexpr, ACCUMULATE: tl.constexpr, BLOCK: tl.constexpr,
                         BLOCK_I: tl.constexpr, BLOCK_N: tl.constexpr):
    """OUT[i] (+)= Σ_c D[c] U[i, col0 + c] for i < H, c < G·H: a row's gradient through the
    recurrent product (D times U's columns transposed) inside the sequence kernel."""
    for i0 in range(0, BLOCK, BLOCK_I):
        i = i0 + tl.arange(0, BLOCK_I)
        iv = i < H
        acc = tl.zeros([BLOCK_I], dtype=tl.float32)
        for g in range(G):
            for n0 in range(0, BLOCK, BLOCK_N):
                n = n0 + tl.arange(0, BLOCK_N)
                nv = n < H
                c = g * H + n
                d = tl.load(D + c, nv, other=0.0)
                u = tl.load(U + i[:, None] * GH + col0 + c[None, :], (iv[:, None] & nv[None, :]) != 0, other=0.0)
                acc += tl.sum(u * d[None, :], 1)
        if ACCUMULATE:
            acc += tl.load(OUT + i, iv, other=0.0)
        tl.store(OUT + i, acc, mask=iv)


@triton.jit
def this_row(t, B, H, BLOCK: tl.constexpr):
    """The program's sample b, its unit offsets j (padded to BLOCK) and which are real, and its
    row of the per-step buffers, t B + b."""
    b = tl.program_id(0).to(tl.int64)  # offsets into (T, B, G*H) buffers outgrow 32 bits
    j = tl.arange(0, BLOCK)
    return b, j, j < H, t * B + b


@triton.jit
def load_block(P, row, k, G, H, j, valid):
    """Block k (a gate) of a row of G blocks of H values."""
    return tl.load(P + row * G * H + k * H + j, valid, other=0.0)


@triton.jit
def store_block(P, row, k, G, H, j, valid, value):
    tl.store(P + row * G * H + k * H + j, value, mask=valid)


@triton.jit
def both(valid, cond):
    """valid & cond as a boolean mask. A mask must be boolean (Triton's interpreter from 3.9 refuses
    others), and & of a boolean tensor with a comparison of scalars is held as integers there;
    comparing the result with zero gives booleans on every version."""
    return (valid & cond) != 0


@triton.jit
def kept(MASK, t, b, B, HAS_MASK: tl.constexpr):
    """Whether step t counts for sample b (Keras's masking rule)."""
    if HAS_MASK:
        keep = tl.load(MASK + t * B + b) != 0
    else:
        keep = t >= 0  # always true, as a tensor
    return keep


@triton.jit
def emit(h, keep, t, b, T, B, H, j, valid, OUT, HIN, RMASK, HAS_RMASK: tl.constexpr, ZERO_OUTPUT: tl.constexpr,
         SEQUENCES: tl.constexpr):
    """Writes step t's output of sample b (h, or for a masked step the previous output or zeros)
    and the next step's recurrent input h·rmask."""
    if SEQUENCES:
        out = OUT + (t * B + b) * H + j
        if ZERO_OUTPUT:
            held = tl.zeros_like(h)
        else:
            held = tl.load(OUT + ((t - 1) * B + b) * H + j, both(valid, t > 0), other=0.0)
    else:
        out = OUT + b * H + j
        if ZERO_OUTPUT:
            held = tl.zeros_like(h)
        else:
            held = tl.load(out, valid, other=0.0)
    tl.store(out, tl.where(keep, h, held), mask=valid)
    if HAS_RMASK:
        r = tl.load(RMASK + b * H + j, valid, other=0.0)
        tl.store(HIN + ((t + 1) * B + b) * H + j, h * r, mask=valid)
    else:
        tl.store(HIN + ((t + 1) * B + b) * H + j, h, mask=valid)


@triton.jit
def settle(h, hp, keep, t, b, T, B, H, j, valid, HS, OUT, HIN, RMASK, HAS_RMASK: tl.constexpr,
           ZERO_OUTPUT: tl.constexpr, SEQUENCES: tl.constexpr, SEQUENCE: tl.constexpr):
    """The end of every forward step: the carried h (the new one, or for a masked step the
    previous one hp) into its slot, then the output and the next recurrent input; in the
    sequence kernel a barrier, so the next step's threads read what this step's wrote."""
    h = tl.where(keep, h, hp)
    tl.store(HS + ((t + 1) * B + b) * H + j, h, mask=valid)
    emit(h, keep, t, b, T, B, H, j, valid, OUT, HIN, RMASK, HAS_RMASK, ZERO_OUTPUT, SEQUENCES)
    if SEQUENCE:
        tl.debug_barrier()


@triton.jit
def arriving(keep, t, b, T, B, H, j, valid, GO, CARRY, DH, BACK, RMASK, HAS_RMASK: tl.constexpr,
             ZERO_OUTPUT: tl.constexpr, SEQUENCES: tl.constexpr):
    """The gradients reaching step t of sample b: (g, dh), g the output's (the loss's plus what a
    later masked step passed back) and dh the carried h's (DH plus the last product's BACK·rmask).
    Updates CARRY; for a masked step also stores dh back to DH, since it passes through."""
    if SEQUENCES:
        go = tl.load(GO + (t * B + b) * H + j, valid, other=0.0)
    else:
        go = tl.load(GO + b * H + j, both(valid, t == T - 1), other=0.0)
    g = go + tl.load(CARRY + b * H + j, valid, other=0.0)
    back = tl.load(BACK + b * H + j, valid, other=0.0)
    if HAS_RMASK:
        back = back * tl.load(RMASK + b * H + j, valid, other=0.0)
    dh = tl.load(DH + b * H + j, valid, other=0.0) + back
    if ZERO_OUTPUT:
        tl.store(CARRY + b * H + j, tl.zeros_like(g), mask=valid)
    else:
        tl.store(CARRY + b * H + j, tl.where(keep, 0.0, g), mask=valid)
    tl.store(DH + b * H + j, dh, mask=both(valid, keep == 0))
    return g, dh


@triton.jit
def backward_row(t, T, B, H, GO, CARRY, DH, BACK, MASK, RMASK, HAS_MASK: tl.constexpr, HAS_RMASK: tl.constexpr,
                 ZERO_OUTPUT: tl.constexpr, SEQUENCES: tl.constexpr, BLOCK: tl.constexpr):
    """The start of every backward step: the program's row (b, j, valid, row), whether step t
    counts for it (keep) and the gradients reaching it (g, dh: `arriving`)."""
    b, j, valid, row = this_row(t, B, H, BLOCK)
    keep = kept(MASK, t, b, B, HAS_MASK)
    g, dh = arriving(keep, t, b, T, B, H, j, valid, GO, CARRY, DH, BACK, RMASK, HAS_RMASK, ZERO_OUTPUT, SEQUENCES)
    return b, j, valid, row, keep, g, dh


@dataclass
class Sequence:
    """One call's sequence-wide tensors and options, time-major."""

    x: torch.Tensor  # (T, B, D) float32 (a stand-in with x_low); a spatial cell's frames as (T, samples, S_in·C)
    W: torch.Tensor
    b: torch.Tensor | None
    U: torch.Tensor
    mask: torch.Tensor | None  # (T, B) uint8
    rmask: torch.Tensor | None  # (B, H)
    zero_output: bool
    return_sequences: bool
    x_low: torch.Tensor | None = None  # a mixed-precision layer's bfloat16/float16 x (T, B, D), for x W
    units: int = 0  # H where U's rows are not (the convolutional cell's filters)
    spatial: tuple[int, ...] = ()  # the convolutional cell's state positions per sample: its rows
    T: int = 0
    B: int = 0
    H: int = 0
    block: int = 0  # the row length the kernels work on: H rounded up to a power of two
    whole: bool = False  # one kernel runs every step (`whole_sequence`), else a launch per step
    states: list[torch.Tensor] = field(default_factory=list)  # (T + 1, B, H) each
    hin: torch.Tensor = field(init=False)  # (T + 1, B, H)
    out: torch.Tensor = field(init=False)  # (T, B, H), or (B, H) for the last output only
    # backward
    go: torch.Tensor = field(init=False)  # the gradient of out
    dstates: list[torch.Tensor] = field(default_factory=list)  # (B, H) each: DH (and DC)
    back: torch.Tensor = field(init=False)  # (B, H)
    carry: torch.Tensor = field(init=False)  # (B, H)

    def __post_init__(self) -> None:
        self.T, self.B = self.x.shape[0], self.x.shape[1] * math.prod(self.spatial)  # B counts rows
        self.H = self.units or self.U.shape[0]
        self.block = max(16, 1 << (self.H - 1).bit_length())  # (triton.next_power_of_2 costs µs a call)
        none = self.x.new_empty(0)  # each is set by the loop before use
        self.hin = self.out = self.go = self.back = self.carry = none

    def flags(self) -> dict[str, Any]:
        """The loop's compile-time options, as every kernel takes them: the masking and output
        options, the row's block, the driver and the tiles of the in-kernel product (rows of U by
        columns)."""
        return dict(HAS_MASK=self.mask is not None, HAS_RMASK=self.rmask is not None, ZERO_OUTPUT=self.zero_output,
                    SEQUENCES=self.return_sequences, BLOCK=self.block, SEQUENCE=self.whole, PK=min(32, self.block),
                    PN=min(128, self.block))

    def all_steps(self, reverse: bool = False) -> tuple[int, int]:
        """The sequence kernel's first step and number of steps: every step, from the first (from
        the last, backward)."""
        return (self.T - 1 if reverse else 0), self.T

    def masks(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The mask and rmask arguments (a placeholder where absent: the kernels do not read it)."""
        return (self.mask if self.mask is not None else self.x, self.rmask if self.rmask is not None else self.x)

    def warps(self) -> int:
        """A program's warps: one for a short row's pointwise step; at least four for the sequence
        kernel, which streams U through the in-kernel product."""
        pointwise = 1 if self.block <= 128 else 4 if self.block <= 1024 else 8
        return max(4, pointwise) if self.whole else pointwise


def whole_sequence(cell: Any, seq: Sequence) -> bool:
    """Whether one kernel runs the sequence (`driver()`: auto chooses it on a CUDA device where
    a program's rows stream at most SEQUENCE_BYTES of U per step), else a launch per step."""
    chosen = driver()
    if not cell.sequence_kernel or chosen == "steps":
        return False
    if chosen == "sequence":
        return True
    if not seq.x.is_cuda:
        return False
    return math.ceil(seq.B / _multiprocessors(seq.x.device)) * seq.U.numel() * seq.U.element_size() <= SEQUENCE_BYTES


@functools.lru_cache(maxsize=None)
def _multiprocessors(device: torch.device) -> int:
    """The device's SMs (asked once per device: the rule runs at every call)."""
    return torch.cuda.get_device_properties(device).multi_processor_count


def sequence_of(tensors: dict[str, torch.Tensor], options: dict[str, float], spatial: bool = False) -> Sequence:
    """The call's Sequence. A spatial cell (frames x (T, B, *S_in, C), states (B, *S, H)) runs each
    of a sample's S positions as a row, as the C++ loop does: the states, rmask and the mask
    (given per sample) become B·S rows; its x travels as (T, B, S_in·C) and the cell reads the
    frames' shape from the tensors."""
    x = tensors["x"]
    mask = tensors.get("mask")
    rmask = tensors.get("rmask")
    units = 0
    shape: tuple[int, ...] = ()
    if spatial:
        h0 = tensors["h0"]
        units, shape = h0.shape[-1], tuple(h0.shape[1:-1])
        x = x.reshape(x.shape[0], x.shape[1], -1)
        mask = None if mask is None else mask.repeat_interleave(math.prod(shape), 1)
        rmask = None if rmask is None else rmask.reshape(-1, units)
    low = x.dtype in mixed_precision.LOW_PRECISION and not spatial
    # with a low-precision x the loop reads x_low alone (input_product, run_backward); x is then a
    # float32 stand-in of its shape, holding no memory (shapes, new buffers' dtype, placeholders)
    loop_x = torch.zeros((), dtype=torch.float32, device=x.device).expand(x.shape) if low else x.float().contiguous()
    return Sequence(
        x=loop_x, x_low=x.contiguous() if low else None,
        W=tensors["W"], b=tensors.get("b"), U=tensors["U"].contiguous(),
        mask=None if mask is None else mask.to(torch.uint8).contiguous(),
        rmask=None if rmask is None else rmask.float().contiguous(),
        zero_output=bool(options["zero_output"]), return_sequences=bool(options["return_sequences"]),
        units=units, spatial=shape)


def run_forward(cell: Any, seq: Sequence, initial: list[torch.Tensor], save: bool,
                final_states: bool) -> dict[str, torch.Tensor]:
    """The forward from the initial states `initial` (B, H) each, or from zeros where it is empty
    (then one launch clears every first slot, where copying them in took one each). The final
    states are copies of their own with `final_states`, else views of the loop's buffer (no
    launch: the caller drops them)."""
    T, B, H, n = seq.T, seq.B, seq.H, cell.n_states
    slots = seq.x.new_empty(n + 1, T + 1, B, H)  # the carried states, then the recurrent inputs h·rmask
    *seq.states, seq.hin = slots.unbind(0)
    if initial:
        for st, s0 in zip(seq.states, initial):
            st[0] = s0
        if seq.rmask is None:
            seq.hin[0] = initial[0]
        else:
            torch.mul(initial[0], seq.rmask, out=seq.hin[0])
    else:
        slots[:, 0].zero_()
    # the last output alone: a masked step repeats the one before, zeros before the first kept
    # step; without a mask (or with zero_output) every step writes it before it is read
    held = seq.mask is not None and not seq.zero_output
    seq.out = seq.x.new_empty(T, B, H) if seq.return_sequences else (seq.x.new_zeros if held else seq.x.new_empty)(B, H)
    cell.prepare(seq)
    if seq.whole:
        cell.forward_sequence(seq)
    else:
        for t in range(T):
            cell.forward_step(seq, t)
    result = {"out": seq.out, "h": seq.states[0][T].clone() if final_states else seq.states[0][T]}
    if len(seq.states) > 1:
        result["c"] = seq.states[1][T].clone() if final_states else seq.states[1][T]
    if save:
        result["H"] = seq.states[0]
        if len(seq.states) > 1:
            result["C"] = seq.states[1]
        result["HIN"] = seq.hin
        result.update(cell.saved())
    return result


def run_backward(cell: Any, seq: Sequence, tensors: dict[str, torch.Tensor], need_dx: bool) -> dict[str, torch.Tensor]:
    T, B, H = seq.T, seq.B, seq.H
    seq.states = [tensors[n] for n in ("H", "C") if n in tensors]
    seq.hin = tensors["HIN"]
    seq.go = tensors["grad_out"].float().contiguous()
    n = cell.n_states
    *seq.dstates, seq.back, seq.carry = seq.x.new_zeros(n + 2, B, H).unbind(0)  # DH (DC), BACK, CARRY: one launch
    for d, name in zip(seq.dstates, ("grad_h", "grad_c")):
        if tensors.get(name) is not None:  # else zeros: the final state's gradient did not arrive (unused)
            d.copy_(tensors[name].reshape(B, H))
    cell.start_backward(seq)
    if seq.whole:
        cell.backward_sequence(seq)
    else:
        for t in range(T - 1, -1, -1):
            cell.backward_step(seq, t)
    grads: dict[str, torch.Tensor] = {}
    # each initial state's gradient, but none for zeros the layer made (constants: `zero_state`)
    if not is_zero_state(tensors["h0"]):
        dh0 = seq.dstates[0] + (seq.back if seq.rmask is None else seq.back * seq.rmask)
        grads["h0"] = dh0.view(tensors["h0"].shape)
    if cell.n_states > 1 and not is_zero_state(tensors["c0"]):
        grads["c0"] = seq.dstates[1].view(tensors["c0"].shape)
    dxw = cell.finish_backward(seq, grads)  # (T, B, G*H)
    if cell.spatial:  # the input convolution's gradients are the cell's
        cell.project_backward(seq, dxw, grads, need_dx)
        return grads
    d2 = dxw.reshape(T * B, dxw.shape[2])
    if seq.b is not None and cell.bias_in_projection:
        grads["b"] = d2.sum(0)
    if seq.x_low is not None:  # x W was a low-precision product: so are its gradients
        d2l = d2.to(seq.x_low.dtype)
        grads["W"] = (seq.x_low.reshape(T * B, seq.x.shape[2]).t() @ d2l).to(seq.W.dtype)
        if need_dx:
            grads["x"] = (d2l @ seq.W.t().to(d2l.dtype)).view(T, B, seq.x.shape[2])
        return grads
    grads["W"] = seq.x.reshape(T * B, seq.x.shape[2]).t() @ d2
    if need_dx:
        grads["x"] = (d2 @ seq.W.t()).view(T, B, seq.x.shape[2])
    return grads


def input_product(seq: Sequence, with_bias: bool = False) -> torch.Tensor:
    """x W (+ b, `with_bias` and a bias given) for every row, (T·B, G·H) in W's dtype: a
    mixed-precision layer's low-precision x multiplies W rounded to its dtype (tensor cores), the
    product returning in W's dtype before b joins it. In float32 one addmm does both (one launch)."""
    bias = seq.b if with_bias else None
    if seq.x_low is not None:
        x = seq.x_low.reshape(seq.T * seq.B, seq.x.shape[2])
        xw = (x @ seq.W.to(x.dtype)).to(seq.W.dtype)
        return xw if bias is None else xw + bias
    x = seq.x.reshape(seq.T * seq.B, seq.x.shape[2])
    return x @ seq.W if bias is None else torch.addmm(bias, x, seq.W)
