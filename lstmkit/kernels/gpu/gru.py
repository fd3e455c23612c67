"""The GRU on the GPU loop (csrc/gru.h's equations and names). Blocks z, r, h;
h' = z h + (1 - z) g. With reset_after, hu = h U + b_r and g = φ(x_h + r hu_h): one product and
one kernel per step. Without, g = φ(x_h + (r h) U_h): the product of z and r's columns, a kernel
for z and r, the candidate's product, a kernel for the rest.

Saved: PRE (T,B,3H) pre-activations, A activations, HU the recurrent terms, RHIN r·hin (without
reset_after).
"""

from typing import Any

import torch
import triton
import triton.language as tl

from . import activations as act
from . import loop


@triton.jit
def _block(P, row, k, H, j, valid):
    return loop.load_block(P, row, k, 3, H, j, valid)


@triton.jit
def _put(P, row, k, H, j, valid, value):
    loop.store_block(P, row, k, 3, H, j, valid, value)


@triton.jit
def _gates_step(t, b, j, valid, row, H, XW, HU, HIN, PRE, A, RHIN, RACT: tl.constexpr):
    """Without reset_after, the first part of a step: z and r from x and hin U[:, :2H], and r·hin."""
    pz = _block(XW, row, 0, H, j, valid) + _block(HU, row, 0, H, j, valid)
    pr = _block(XW, row, 1, H, j, valid) + _block(HU, row, 1, H, j, valid)
    _put(PRE, row, 0, H, j, valid, pz)
    _put(PRE, row, 1, H, j, valid, pr)
    r = act.forward(pr, valid, RACT)
    _put(A, row, 0, H, j, valid, act.forward(pz, valid, RACT))
    _put(A, row, 1, H, j, valid, r)
    tl.store(RHIN + row * H + j, r * tl.load(HIN + row * H + j, valid, other=0.0), mask=valid)


@triton.jit(do_not_specialize=["t"])
def _gates_kernel(t, B, H, XW, HU, HIN, PRE, A, RHIN, RACT: tl.constexpr, BLOCK: tl.constexpr):
    b, j, valid, row = loop.this_row(t, B, H, BLOCK)
    _gates_step(t, b, j, valid, row, H, XW, HU, HIN, PRE, A, RHIN, RACT)


@triton.jit(do_not_specialize=["t0", "steps"])
def _forward_kernel(
    t0, steps, T, B, H, XW, HU, U, B_R, RHIN, HS, HIN, OUT, MASK, RMASK, PRE, A,
    ACT: tl.constexpr, RACT: tl.constexpr, RESET_AFTER: tl.constexpr, HAS_BR: tl.constexpr, HAS_MASK: tl.constexpr,
    HAS_RMASK: tl.constexpr, ZERO_OUTPUT: tl.constexpr, SEQUENCES: tl.constexpr, BLOCK: tl.constexpr,
    SEQUENCE: tl.constexpr, PK: tl.constexpr, PN: tl.constexpr,
):
    t = t0
    while t < t0 + steps:  # one step, or the whole sequence (SEQUENCE)
        b, j, valid, row = loop.this_row(t, B, H, BLOCK)
        if SEQUENCE:  # this step's recurrent products, into the row's HU
            if RESET_AFTER:  # hin U + b_r
                loop.row_times(HIN + row * H, U, HU + row * 3 * H, H, 3 * H, 0, B_R, 3, HAS_BR, BLOCK, PK, PN)
                tl.debug_barrier()
            else:  # hin U[:, :2H], z and r, then (r hin) U[:, 2H:]
                loop.row_times(HIN + row * H, U, HU + row * 3 * H, H, 3 * H, 0, U, 2, False, BLOCK, PK, PN)
                tl.debug_barrier()
                _gates_step(t, b, j, valid, row, H, XW, HU, HIN, PRE, A, RHIN, RACT)
                tl.debug_barrier()
                loop.row_times(RHIN + row * H, U, HU + row * 3 * H + 2 * H, H, 3 * H, 2 * H, U, 1, False, BLOCK,
                               PK, PN)
                tl.debug_barrier()
        hu_h = _block(HU, row, 2, H, j, valid)
        if RESET_AFTER:
            pz = _block(XW, row, 0, H, j, valid) + _block(HU, row, 0, H, j, valid)
            pr = _block(XW, row, 1, H, j, valid) + _block(HU, row, 1, H, j, valid)
            z = act.forward(pz, valid, RACT)
            r = act.forward(pr, valid, RACT)
            _put(PRE, row, 0, H, j, valid, pz)
            _put(PRE, row, 1, H, j, valid, pr)
            _put(A, row, 0, H, j, valid, z)
            _put(A, row, 1, H, j, valid, r)
            pg = _block(XW, row, 2, H, j, valid) + r * hu_h
        else:  # z and r came from _gates_step, hu_h from (r hin) U[:, 2H:]
            z = _block(A, row, 0, H, j, valid)
            pg = _block(XW, row, 2, H, j, valid) + hu_h
        g = act.forward(pg, valid, ACT)
        _put(PRE, row, 2, H, j, valid, pg)
        _put(A, row, 2, H, j, valid, g)
        hp = tl.load(HS + row * H + j, valid, other=0.0)
        hn = z * hp + (1.0 - z) * g
        keep = loop.kept(MASK, t, b, B, HAS_MASK)
        loop.settle(hn, hp, keep, t, b, T, B, H, j, valid, HS, OUT, HIN, RMASK, HAS_RMASK, ZERO_OUTPUT, SEQUENCES,
                    SEQUENCE)
        t += 1


@triton.jit(do_not_specialize=["t0", "steps"])
def _backward_kernel(
    t0, steps, T, B, H, PRE, A, HU, HS, HIN, U, GO, CARRY, DH, BACK, DRH, MASK, RMASK, DX, DHU,
    ACT: tl.constexpr, RACT: tl.constexpr, RESET_AFTER: tl.constexpr, HAS_MASK: tl.constexpr,
    HAS_RMASK: tl.constexpr, ZERO_OUTPUT: tl.constexpr, SEQUENCES: tl.constexpr, BLOCK: tl.constexpr,
    SEQUENCE: tl.constexpr, PK: tl.constexpr, PN: tl.constexpr,
):
    """Everything of step t up to the recurrent products: d pre_z and d pre_g (and with
    reset_after d pre_r and the gradient of hu), and h_{t-1}'s direct share z g; in the sequence
    kernel the products' backward as well."""
    t = t0
    while t > t0 - steps:  # one step, or the whole sequence from its end (SEQUENCE)
        b, j, valid, row, keep, g, dh = loop.backward_row(t, T, B, H, GO, CARRY, DH, BACK, MASK, RMASK, HAS_MASK,
                                                          HAS_RMASK, ZERO_OUTPUT, SEQUENCES, BLOCK)
        g = g + dh
        z, r, cand = _block(A, row, 0, H, j, valid), _block(A, row, 1, H, j, valid), _block(A, row, 2, H, j, valid)
        hp = tl.load(HS + row * H + j, valid, other=0.0)
        dpz = act.backward(_block(PRE, row, 0, H, j, valid), z, g * (hp - cand), valid, RACT)
        dpg = act.backward(_block(PRE, row, 2, H, j, valid), cand, g * (1.0 - z), valid, ACT)
        dpz, dpg = tl.where(keep, dpz, 0.0), tl.where(keep, dpg, 0.0)
        _put(DX, row, 0, H, j, valid, dpz)
        _put(DX, row, 2, H, j, valid, dpg)
        tl.store(DH + b * H + j, g * z, mask=loop.both(valid, keep))
        if RESET_AFTER:
            dpr = act.backward(_block(PRE, row, 1, H, j, valid), r, dpg * _block(HU, row, 2, H, j, valid), valid,
                               RACT)
            dpr = tl.where(keep, dpr, 0.0)
            _put(DX, row, 1, H, j, valid, dpr)
            _put(DHU, row, 0, H, j, valid, dpz)
            _put(DHU, row, 1, H, j, valid, dpr)
            _put(DHU, row, 2, H, j, valid, dpg * r)
        else:
            _put(DX, row, 1, H, j, valid, tl.zeros_like(dpz))  # filled by _reset_backward_step
        if SEQUENCE:  # the products' backward: the next step's BACK
            tl.debug_barrier()
            if RESET_AFTER:  # DHU_t U^T
                loop.row_times_transposed(DHU + row * 3 * H, U, BACK + b * H, H, 3 * H, 0, 3, False, BLOCK, PK, PN)
            else:  # d(r hin) = d pre_g U[:, 2H:]^T, then r's share and d pre_(z, r) U[:, :2H]^T
                loop.row_times_transposed(DX + row * 3 * H + 2 * H, U, DRH + b * H, H, 3 * H, 2 * H, 1, False, BLOCK,
                                          PK, PN)
                tl.debug_barrier()
                _reset_backward_step(row, b, j, valid, H, PRE, A, HIN, DRH, DX, BACK, RACT)
                tl.debug_barrier()
                loop.row_times_transposed(DX + row * 3 * H, U, BACK + b * H, H, 3 * H, 0, 2, True, BLOCK, PK, PN)
            tl.debug_barrier()
        t -= 1


@triton.jit
def _reset_backward_step(row, b, j, valid, H, PRE, A, HIN, DRH, DX, BACK, RACT: tl.constexpr):
    """Without reset_after, after the candidate's product d(r hin) = d pre_g U[:, 2H:]^T:
    d pre_r, and r's share of d hin, which the next product adds to."""
    d_rh = tl.load(DRH + b * H + j, valid, other=0.0)
    r = _block(A, row, 1, H, j, valid)
    hin = tl.load(HIN + row * H + j, valid, other=0.0)
    _put(DX, row, 1, H, j, valid, act.backward(_block(PRE, row, 1, H, j, valid), r, d_rh * hin, valid, RACT))
    tl.store(BACK + b * H + j, d_rh * r, mask=valid)


@triton.jit(do_not_specialize=["t"])
def _reset_backward_kernel(t, B, H, PRE, A, HIN, DRH, DX, BACK, RACT: tl.constexpr, BLOCK: tl.constexpr):
    b, j, valid, row = loop.this_row(t, B, H, BLOCK)
    _reset_backward_step(row, b, j, valid, H, PRE, A, HIN, DRH, DX, BACK, RACT)


class GRU:
    n_states = 1
    sequence_kernel = True  # its kernels also run the whole sequence (loop.whole_sequence)
    spatial = False  # x (T, B, D), the loop multiplies it by W
    names = loop.CellNames(inputs=("b_r",), saved=("PRE", "A", "HU", "RHIN"), ints=("act", "ract", "reset_after"),
                           floats=())

    def __init__(self, seq: loop.Sequence, tensors: dict[str, torch.Tensor], options: dict[str, Any]) -> None:
        self.act, self.ract = int(options["act"]), int(options["ract"])
        self.reset_after = bool(options["reset_after"])
        self.b_r = tensors.get("b_r")
        self.bias_in_projection = True
        self.saved_names = ("PRE", "A", "HU") + (() if self.reset_after else ("RHIN",))
        self.buffers: dict[str, torch.Tensor] = {n: tensors[n] for n in self.saved_names if n in tensors}

    def _launch(self, seq: loop.Sequence) -> dict[str, Any]:
        """The kernels' compile-time options and warps."""
        return dict(ACT=self.act, RACT=self.ract, RESET_AFTER=self.reset_after, num_warps=seq.warps(), **seq.flags())

    def prepare(self, seq: loop.Sequence) -> None:
        T, B, H = seq.T, seq.B, seq.H
        self.xw = loop.input_product(seq, with_bias=True).view(T, B, 3 * H)
        new = seq.x.new_empty
        self.buffers.update(PRE=new(T, B, 3 * H), A=new(T, B, 3 * H), HU=new(T, B, 3 * H))
        if not self.reset_after:
            self.buffers["RHIN"] = new(T, B, H)
        buf = self.buffers
        self.forward_args = (seq.T, B, H, self.xw, buf["HU"], seq.U, self.b_r if self.b_r is not None else seq.x,
                             buf.get("RHIN", seq.x), seq.states[0], seq.hin, seq.out, *seq.masks(), buf["PRE"],
                             buf["A"])
        self.gates_args = (B, H, self.xw, buf["HU"], seq.hin, buf["PRE"], buf["A"], buf.get("RHIN", seq.x))
        self.launch = dict(self._launch(seq), HAS_BR=self.b_r is not None)  # the sequence kernel adds b_r itself

    def forward_step(self, seq: loop.Sequence, t: int) -> None:
        buf, H = self.buffers, seq.H
        hu = buf["HU"][t]
        if self.reset_after:
            if self.b_r is not None:
                torch.addmm(self.b_r, seq.hin[t], seq.U, out=hu)
            else:
                torch.mm(seq.hin[t], seq.U, out=hu)
        else:
            hu[:, :2 * H] = seq.hin[t] @ seq.U[:, :2 * H]
            _gates_kernel[(seq.B,)](t, *self.gates_args, RACT=self.ract, BLOCK=seq.block,
                                    num_warps=self.launch["num_warps"])
            hu[:, 2 * H:] = buf["RHIN"][t] @ seq.U[:, 2 * H:]
        _forward_kernel[(seq.B,)](t, 1, *self.forward_args, **self.launch)

    def forward_sequence(self, seq: loop.Sequence) -> None:
        _forward_kernel[(seq.B,)](*seq.all_steps(), *self.forward_args, **self.launch)

    def saved(self) -> dict[str, torch.Tensor]:
        return {n: self.buffers[n] for n in self.saved_names}

    def start_backward(self, seq: loop.Sequence) -> None:
        T, B, H = seq.T, seq.B, seq.H
        self.DX = seq.x.new_empty(T, B, 3 * H)
        self.DHU = seq.x.new_empty(T, B, 3 * H) if self.reset_after else seq.x
        self.DRH = seq.x.new_empty(B, H)
        buf = self.buffers
        self.backward_args = (seq.T, B, H, buf["PRE"], buf["A"], buf["HU"], seq.states[0], seq.hin, seq.U, seq.go,
                              seq.carry, seq.dstates[0], seq.back, self.DRH, *seq.masks(), self.DX, self.DHU)
        self.reset_args = (B, H, buf["PRE"], buf["A"], seq.hin, self.DRH, self.DX, seq.back)
        self.launch = self._launch(seq)

    def backward_step(self, seq: loop.Sequence, t: int) -> None:
        H = seq.H
        _backward_kernel[(seq.B,)](t, 1, *self.backward_args, **self.launch)
        if self.reset_after:
            torch.mm(self.DHU[t], seq.U.t(), out=seq.back)
            return
        dx = self.DX[t]
        torch.mm(dx[:, 2 * H:], seq.U[:, 2 * H:].t(), out=self.DRH)
        _reset_backward_kernel[(seq.B,)](t, *self.reset_args, RACT=self.ract, BLOCK=seq.block,
                                         num_warps=self.launch["num_warps"])
        seq.back.addmm_(dx[:, :2 * H], seq.U[:, :2 * H].t())

    def backward_sequence(self, seq: loop.Sequence) -> None:
        _backward_kernel[(seq.B,)](*seq.all_steps(reverse=True), *self.backward_args, **self.launch)

    def finish_backward(self, seq: loop.Sequence, grads: dict[str, torch.Tensor]) -> torch.Tensor:
        T, B, H = seq.T, seq.B, seq.H
        hin = seq.hin[:T].reshape(T * B, H)
        if self.reset_after:
            dhu = self.DHU.reshape(T * B, 3 * H)
            grads["U"] = hin.t() @ dhu
            if self.b_r is not None:
                grads["b_r"] = dhu.sum(0)
        else:
            dx = self.DX.reshape(T * B, 3 * H)
            grads["U"] = torch.cat([hin.t() @ dx[:, :2 * H],
                                    self.buffers["RHIN"].reshape(T * B, H).t() @ dx[:, 2 * H:]], 1)
        return self.DX
