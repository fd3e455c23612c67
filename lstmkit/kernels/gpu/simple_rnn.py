"""The SimpleRNN on the GPU loop: h' = φ(x W + b + h U). Saved: Z (T,B,H) pre-activations, A
their activations."""

from typing import Any

import torch
import triton
import triton.language as tl

from . import activations as act
from . import loop


@triton.jit(do_not_specialize=["t0", "steps"])
def _forward_kernel(
    t0, steps, T, B, H, Z, REC, U, HS, HIN, OUT, MASK, RMASK, A,
    ACT: tl.constexpr, HAS_MASK: tl.constexpr, HAS_RMASK: tl.constexpr, ZERO_OUTPUT: tl.constexpr,
    SEQUENCES: tl.constexpr, BLOCK: tl.constexpr, SEQUENCE: tl.constexpr, PK: tl.constexpr, PN: tl.constexpr,
):
    t = t0
    while t < t0 + steps:  # one step, or the whole sequence (SEQUENCE)
        b, j, valid, row = loop.this_row(t, B, H, BLOCK)
        if SEQUENCE:  # this step's recurrent product hin_t U, into the row's REC
            loop.row_times(HIN + row * H, U, REC + b * H, H, H, 0, U, 1, False, BLOCK, PK, PN)
            tl.debug_barrier()
        z = tl.load(Z + row * H + j, valid, other=0.0) + tl.load(REC + b * H + j, valid, other=0.0)
        a = act.forward(z, valid, ACT)
        tl.store(Z + row * H + j, z, mask=valid)
        tl.store(A + row * H + j, a, mask=valid)
        hp = tl.load(HS + row * H + j, valid, other=0.0)
        keep = loop.kept(MASK, t, b, B, HAS_MASK)
        loop.settle(a, hp, keep, t, b, T, B, H, j, valid, HS, OUT, HIN, RMASK, HAS_RMASK, ZERO_OUTPUT, SEQUENCES,
                    SEQUENCE)
        t += 1


@triton.jit(do_not_specialize=["t0", "steps"])
def _backward_kernel(
    t0, steps, T, B, H, Z, A, U, GO, CARRY, DH, BACK, MASK, RMASK, DZ,
    ACT: tl.constexpr, HAS_MASK: tl.constexpr, HAS_RMASK: tl.constexpr, ZERO_OUTPUT: tl.constexpr,
    SEQUENCES: tl.constexpr, BLOCK: tl.constexpr, SEQUENCE: tl.constexpr, PK: tl.constexpr, PN: tl.constexpr,
):
    t = t0
    while t > t0 - steps:  # one step, or the whole sequence from its end (SEQUENCE)
        b, j, valid, row, keep, g, dh = loop.backward_row(t, T, B, H, GO, CARRY, DH, BACK, MASK, RMASK, HAS_MASK,
                                                          HAS_RMASK, ZERO_OUTPUT, SEQUENCES, BLOCK)
        dz = act.backward(tl.load(Z + row * H + j, valid, other=0.0), tl.load(A + row * H + j, valid, other=0.0),
                          g + dh, valid, ACT)
        tl.store(DZ + row * H + j, tl.where(keep, dz, 0.0), mask=valid)
        tl.store(DH + b * H + j, tl.zeros_like(dz), mask=loop.both(valid, keep))  # h reaches h' only through U
        if SEQUENCE:  # the product's backward, DZ_t U^T, the next step's BACK
            tl.debug_barrier()
            loop.row_times_transposed(DZ + row * H, U, BACK + b * H, H, H, 0, 1, False, BLOCK, PK, PN)
            tl.debug_barrier()
        t -= 1


class SimpleRNN:
    n_states = 1
    sequence_kernel = True  # its kernels also run the whole sequence (loop.whole_sequence)
    spatial = False  # x (T, B, D), the loop multiplies it by W
    names = loop.CellNames(inputs=(), saved=("Z", "A"), ints=("act",), floats=())

    def __init__(self, seq: loop.Sequence, tensors: dict[str, torch.Tensor], options: dict[str, Any]) -> None:
        self.act = int(options["act"])
        self.bias_in_projection = True
        self.buffers: dict[str, torch.Tensor] = {n: tensors[n] for n in ("Z", "A") if n in tensors}

    def prepare(self, seq: loop.Sequence) -> None:
        T, B, H = seq.T, seq.B, seq.H
        xw = loop.input_product(seq, with_bias=True)
        self.buffers.update(Z=xw.view(T, B, H), A=seq.x.new_empty(T, B, H))
        self.rec = seq.x.new_empty(B, H)  # each step's hin U
        self.forward_args = (seq.T, B, H, self.buffers["Z"], self.rec, seq.U, seq.states[0], seq.hin, seq.out,
                             *seq.masks(), self.buffers["A"])
        self.launch = dict(ACT=self.act, num_warps=seq.warps(), **seq.flags())

    def forward_step(self, seq: loop.Sequence, t: int) -> None:
        torch.mm(seq.hin[t], seq.U, out=self.rec)
        _forward_kernel[(seq.B,)](t, 1, *self.forward_args, **self.launch)

    def forward_sequence(self, seq: loop.Sequence) -> None:
        _forward_kernel[(seq.B,)](*seq.all_steps(), *self.forward_args, **self.launch)

    def saved(self) -> dict[str, torch.Tensor]:
        return dict(self.buffers)

    def start_backward(self, seq: loop.Sequence) -> None:
        self.DZ = seq.x.new_empty(seq.T, seq.B, seq.H)
        self.backward_args = (seq.T, seq.B, seq.H, self.buffers["Z"], self.buffers["A"], seq.U, seq.go, seq.carry,
                              seq.dstates[0], seq.back, *seq.masks(), self.DZ)
        self.launch = dict(ACT=self.act, num_warps=seq.warps(), **seq.flags())

    def backward_step(self, seq: loop.Sequence, t: int) -> None:
        _backward_kernel[(seq.B,)](t, 1, *self.backward_args, **self.launch)
        torch.mm(self.DZ[t], seq.U.t(), out=seq.back)

    def backward_sequence(self, seq: loop.Sequence) -> None:
        _backward_kernel[(seq.B,)](*seq.all_steps(reverse=True), *self.backward_args, **self.launch)

    def finish_backward(self, seq: loop.Sequence, grads: dict[str, torch.Tensor]) -> torch.Tensor:
        T, B, H = seq.T, seq.B, seq.H
        grads["U"] = seq.hin[:T].reshape(T * B, H).t() @ self.DZ.reshape(T * B, H)
        return self.DZ
