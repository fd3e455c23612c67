"""The LSTM on the GPU loop: its pointwise forward and backward kernels and what it saves.

The equations and names are those of csrc/lstm.h: gates i, f, c, o; c' = f c + i φ(z_c);
h' = o φ(c'); peepholes, layer norm, zoneout and the cell clip as compile-time options. Saved: Z (T,B,4H)
pre-activations, A their activations, CN (T,B,H) c', PC φ's output; with layer norm NX, RX (the
normalised input term and its 1/std), NH, RH (the recurrent term's), NC, RC, CI (the cell's, and
φ's input).
"""

from typing import Any

import torch
import triton
import triton.language as tl

from . import activations as act
from . import loop


@triton.jit
def _gate(P, row, k, H, j, valid):
    return loop.load_block(P, row, k, 4, H, j, valid)


@triton.jit
def _put_gate(P, row, k, H, j, valid, value):
    loop.store_block(P, row, k, 4, H, j, valid, value)


@triton.jit
def _zone_weights(ZONE, row, t, B, H, j, valid, zone_p, ZONE_DRAWS: tl.constexpr):
    """Zoneout's weights of the previous h and c for step t: the training draws (T, 2, B, H), or
    at inference the rate itself."""
    if ZONE_DRAWS:
        dh = tl.load(ZONE + (row + t * B) * H + j, valid, other=0.0)
        dc = tl.load(ZONE + (row + (t + 1) * B) * H + j, valid, other=0.0)
    else:
        dh = zone_p
        dc = zone_p
    return dh, dc


@triton.jit(do_not_specialize=["t0", "steps"])
def _forward_kernel(
    t0, steps, T, B, H, eps, zone_p, clip,
    Z, REC, U, HS, CS, HIN, OUT, MASK, RMASK, ZONE, PEEP, GH, GC, BC,
    A, CN, PC, NH, RH, NC, RC, CI,
    ACT: tl.constexpr, RACT: tl.constexpr, PEEPHOLE: tl.constexpr, NORM: tl.constexpr, ZONEOUT: tl.constexpr,
    CLIP: tl.constexpr,
    ZONE_DRAWS: tl.constexpr, HAS_MASK: tl.constexpr, HAS_RMASK: tl.constexpr, ZERO_OUTPUT: tl.constexpr,
    SEQUENCES: tl.constexpr, BLOCK: tl.constexpr, SEQUENCE: tl.constexpr, PK: tl.constexpr, PN: tl.constexpr,
):
    t = t0
    while t < t0 + steps:  # one step, or the whole sequence (SEQUENCE)
        b, j, valid, row = loop.this_row(t, B, H, BLOCK)
        if SEQUENCE:  # this step's recurrent product hin_t U, into the row's REC
            loop.row_times(HIN + row * H, U, REC + b * 4 * H, H, 4 * H, 0, U, 4, False, BLOCK, PK, PN)
            tl.debug_barrier()
        # the input term (x W + b, or with layer norm LN(x W) gx + b, computed before the loop)
        zi, zf, zg, zo = _gate(Z, row, 0, H, j, valid), _gate(Z, row, 1, H, j, valid), _gate(Z, row, 2, H, j, valid), \
            _gate(Z, row, 3, H, j, valid)
        ri, rf, rg, ro = _gate(REC, b, 0, H, j, valid), _gate(REC, b, 1, H, j, valid), _gate(REC, b, 2, H, j, valid), \
            _gate(REC, b, 3, H, j, valid)
        if NORM:  # z += gh LN(hin U), the statistics over all 4H values
            n = 4 * H
            mean = (tl.sum(ri, 0) + tl.sum(rf, 0) + tl.sum(rg, 0) + tl.sum(ro, 0)) / n
            ri, rf, rg, ro = tl.where(valid, ri - mean, 0.0), tl.where(valid, rf - mean, 0.0), \
                tl.where(valid, rg - mean, 0.0), tl.where(valid, ro - mean, 0.0)
            var = (tl.sum(ri * ri, 0) + tl.sum(rf * rf, 0) + tl.sum(rg * rg, 0) + tl.sum(ro * ro, 0)) / n
            rstd = 1.0 / tl.sqrt(var + eps)
            ri, rf, rg, ro = ri * rstd, rf * rstd, rg * rstd, ro * rstd
            _put_gate(NH, row, 0, H, j, valid, ri)
            _put_gate(NH, row, 1, H, j, valid, rf)
            _put_gate(NH, row, 2, H, j, valid, rg)
            _put_gate(NH, row, 3, H, j, valid, ro)
            tl.store(RH + row, rstd)
            ri = ri * tl.load(GH + j, valid, other=0.0)
            rf = rf * tl.load(GH + H + j, valid, other=0.0)
            rg = rg * tl.load(GH + 2 * H + j, valid, other=0.0)
            ro = ro * tl.load(GH + 3 * H + j, valid, other=0.0)
        zi, zf, zg, zo = zi + ri, zf + rf, zg + rg, zo + ro
        hp = tl.load(HS + row * H + j, valid, other=0.0)
        cp = tl.load(CS + row * H + j, valid, other=0.0)
        if PEEPHOLE:
            zi += tl.load(PEEP + j, valid, other=0.0) * cp
            zf += tl.load(PEEP + H + j, valid, other=0.0) * cp
        ai = act.forward(zi, valid, RACT)
        af = act.forward(zf, valid, RACT)
        ag = act.forward(zg, valid, ACT)
        cn = af * cp + ai * ag
        if CLIP:
            cn = tl.minimum(tl.maximum(cn, -clip), clip)
        if PEEPHOLE:
            zo += tl.load(PEEP + 2 * H + j, valid, other=0.0) * cn
        ao = act.forward(zo, valid, RACT)
        if NORM:  # h' = o φ(LN(c') gc + bc)
            mean_c = tl.sum(tl.where(valid, cn, 0.0), 0) / H
            dc_ = tl.where(valid, cn - mean_c, 0.0)
            rstd_c = 1.0 / tl.sqrt(tl.sum(dc_ * dc_, 0) / H + eps)
            nc = dc_ * rstd_c
            ci = nc * tl.load(GC + j, valid, other=0.0) + tl.load(BC + j, valid, other=0.0)
            tl.store(NC + row * H + j, nc, mask=valid)
            tl.store(RC + row, rstd_c)
            tl.store(CI + row * H + j, ci, mask=valid)
            pc = act.forward(ci, valid, ACT)
        else:
            pc = act.forward(cn, valid, ACT)
        hn = ao * pc
        cnew = cn
        if ZONEOUT:  # keep each unit's previous value with the draw's weight
            dh, dc = _zone_weights(ZONE, row, t, B, H, j, valid, zone_p, ZONE_DRAWS)
            hn = dh * hp + (1.0 - dh) * hn
            cnew = dc * cp + (1.0 - dc) * cn
        _put_gate(Z, row, 0, H, j, valid, zi)
        _put_gate(Z, row, 1, H, j, valid, zf)
        _put_gate(Z, row, 2, H, j, valid, zg)
        _put_gate(Z, row, 3, H, j, valid, zo)
        _put_gate(A, row, 0, H, j, valid, ai)
        _put_gate(A, row, 1, H, j, valid, af)
        _put_gate(A, row, 2, H, j, valid, ag)
        _put_gate(A, row, 3, H, j, valid, ao)
        tl.store(CN + row * H + j, cn, mask=valid)
        tl.store(PC + row * H + j, pc, mask=valid)
        keep = loop.kept(MASK, t, b, B, HAS_MASK)
        tl.store(CS + (row + B) * H + j, tl.where(keep, cnew, cp), mask=valid)
        loop.settle(hn, hp, keep, t, b, T, B, H, j, valid, HS, OUT, HIN, RMASK, HAS_RMASK, ZERO_OUTPUT, SEQUENCES,
                    SEQUENCE)
        t += 1


@triton.jit(do_not_specialize=["t0", "steps"])
def _backward_kernel(
    t0, steps, T, B, H, zone_p, clip, U,
    Z, A, CN, PC, CS, NH, RH, NC, RC, CI, ZONE, PEEP, GH, GC,
    GO, CARRY, DH, DC, BACK, MASK, RMASK, DZ, DR, DCI,
    ACT: tl.constexpr, RACT: tl.constexpr, PEEPHOLE: tl.constexpr, NORM: tl.constexpr, ZONEOUT: tl.constexpr,
    CLIP: tl.constexpr,
    ZONE_DRAWS: tl.constexpr, HAS_MASK: tl.constexpr, HAS_RMASK: tl.constexpr, ZERO_OUTPUT: tl.constexpr,
    SEQUENCES: tl.constexpr, BLOCK: tl.constexpr, SEQUENCE: tl.constexpr, PK: tl.constexpr, PN: tl.constexpr,
):
    t = t0
    while t > t0 - steps:  # one step, or the whole sequence from its end (SEQUENCE)
        b, j, valid, row, keep, g, dh = loop.backward_row(t, T, B, H, GO, CARRY, DH, BACK, MASK, RMASK, HAS_MASK,
                                                          HAS_RMASK, ZERO_OUTPUT, SEQUENCES, BLOCK)
        g = g + dh  # the whole gradient of h_t
        dc = tl.load(DC + b * H + j, valid, other=0.0)
        zi, zf, zg, zo = _gate(Z, row, 0, H, j, valid), _gate(Z, row, 1, H, j, valid), _gate(Z, row, 2, H, j, valid), \
            _gate(Z, row, 3, H, j, valid)
        ai, af, ag, ao = _gate(A, row, 0, H, j, valid), _gate(A, row, 1, H, j, valid), _gate(A, row, 2, H, j, valid), \
            _gate(A, row, 3, H, j, valid)
        pc = tl.load(PC + row * H + j, valid, other=0.0)
        cp = tl.load(CS + row * H + j, valid, other=0.0)
        if ZONEOUT:  # h_new = d h + (1 - d) h': d g goes straight to h_{t-1}
            zh, zc = _zone_weights(ZONE, row, t, B, H, j, valid, zone_p, ZONE_DRAWS)
            dh_direct = zh * g
            g = g * (1.0 - zh)
        else:
            dh_direct = tl.zeros_like(g)
        dpc = g * ao
        if NORM:
            dci = act.backward(tl.load(CI + row * H + j, valid, other=0.0), pc, dpc, valid, ACT)
            nc = tl.load(NC + row * H + j, valid, other=0.0)
            dn = dci * tl.load(GC + j, valid, other=0.0)
            m1 = tl.sum(dn, 0) / H
            m2 = tl.sum(dn * nc, 0) / H
            dcn = tl.load(RC + row) * (dn - m1 - nc * m2)
            dcn = tl.where(valid, dcn, 0.0)
        else:
            dcn = act.backward(tl.load(CN + row * H + j, valid, other=0.0), pc, dpc, valid, ACT)
        if ZONEOUT:
            dcn += (1.0 - zc) * dc
        else:
            dcn += dc
        dzo = act.backward(zo, ao, g * pc, valid, RACT)
        if PEEPHOLE:
            dcn += dzo * tl.load(PEEP + 2 * H + j, valid, other=0.0)
        if CLIP:  # the gradient stops where the clip bit
            dcn = tl.where(tl.abs(tl.load(CN + row * H + j, valid, other=0.0)) < clip, dcn, 0.0)
        dzi = act.backward(zi, ai, dcn * ag, valid, RACT)
        dzf = act.backward(zf, af, dcn * cp, valid, RACT)
        dzg = act.backward(zg, ag, dcn * ai, valid, ACT)
        dc_prev = dcn * af
        if ZONEOUT:
            dc_prev += zc * dc
        if PEEPHOLE:
            dc_prev += dzi * tl.load(PEEP + j, valid, other=0.0) + dzf * tl.load(PEEP + H + j, valid, other=0.0)
        # a masked step: nothing of it reaches the weights, and the states' gradients pass through
        dzi, dzf, dzg, dzo = tl.where(keep, dzi, 0.0), tl.where(keep, dzf, 0.0), tl.where(keep, dzg, 0.0), \
            tl.where(keep, dzo, 0.0)
        _put_gate(DZ, row, 0, H, j, valid, dzi)
        _put_gate(DZ, row, 1, H, j, valid, dzf)
        _put_gate(DZ, row, 2, H, j, valid, dzg)
        _put_gate(DZ, row, 3, H, j, valid, dzo)
        tl.store(DC + b * H + j, tl.where(keep, dc_prev, dc), mask=valid)
        tl.store(DH + b * H + j, dh_direct, mask=loop.both(valid, keep))
        if NORM:
            tl.store(DCI + row * H + j, tl.where(keep, dci, 0.0), mask=valid)
            # the recurrent term's gradient through its layer norm over all 4H values
            ni, nf, ng, no = _gate(NH, row, 0, H, j, valid), _gate(NH, row, 1, H, j, valid), \
                _gate(NH, row, 2, H, j, valid), _gate(NH, row, 3, H, j, valid)
            dni = dzi * tl.load(GH + j, valid, other=0.0)
            dnf = dzf * tl.load(GH + H + j, valid, other=0.0)
            dng = dzg * tl.load(GH + 2 * H + j, valid, other=0.0)
            dno = dzo * tl.load(GH + 3 * H + j, valid, other=0.0)
            n = 4 * H
            m1 = (tl.sum(dni, 0) + tl.sum(dnf, 0) + tl.sum(dng, 0) + tl.sum(dno, 0)) / n
            m2 = (tl.sum(dni * ni, 0) + tl.sum(dnf * nf, 0) + tl.sum(dng * ng, 0) + tl.sum(dno * no, 0)) / n
            rstd = tl.load(RH + row)
            _put_gate(DR, row, 0, H, j, valid, tl.where(valid, rstd * (dni - m1 - ni * m2), 0.0))
            _put_gate(DR, row, 1, H, j, valid, tl.where(valid, rstd * (dnf - m1 - nf * m2), 0.0))
            _put_gate(DR, row, 2, H, j, valid, tl.where(valid, rstd * (dng - m1 - ng * m2), 0.0))
            _put_gate(DR, row, 3, H, j, valid, tl.where(valid, rstd * (dno - m1 - no * m2), 0.0))
        if SEQUENCE:  # the product's backward, DR_t U^T, the next step's BACK
            tl.debug_barrier()
            loop.row_times_transposed(DR + row * 4 * H, U, BACK + b * H, H, 4 * H, 0, 4, False, BLOCK, PK, PN)
            tl.debug_barrier()
        t -= 1


def _layer_norm_rows(v: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(v - mean) / sqrt(var + eps) over the last axis, and 1/std."""
    mean = v.mean(-1, keepdim=True)
    centred = v - mean
    rstd = torch.rsqrt(centred.pow(2).mean(-1, keepdim=True) + eps)
    return centred * rstd, rstd.squeeze(-1)


class LSTM:
    n_states = 2
    sequence_kernel = True  # its kernels also run the whole sequence (loop.whole_sequence)
    spatial = False  # x (T, B, D), the loop multiplies it by W
    names = loop.CellNames(inputs=("peep", "gx", "gh", "gc", "bc", "zone"),
                           saved=("Z", "A", "CN", "PC", "NX", "RX", "NH", "RH", "NC", "RC", "CI"),
                           ints=("act", "ract", "peephole", "layer_norm", "clip"), floats=("eps", "zoneout", "cell_clip"))

    def __init__(self, seq: loop.Sequence, tensors: dict[str, torch.Tensor], options: dict[str, Any]) -> None:
        self.act, self.ract = int(options["act"]), int(options["ract"])
        self.peephole, self.norm = bool(options["peephole"]), bool(options["layer_norm"])
        self.eps, self.zone_p = float(options["eps"]), float(options["zoneout"])
        self.clip, self.cell_clip = bool(options["clip"]), float(options["cell_clip"])
        self.zone = tensors.get("zone")
        if self.zone is not None:
            self.zone = self.zone.float().contiguous()
        self.zoneout = self.zone is not None or self.zone_p > 0
        self.peep = tensors.get("peep")
        self.gx, self.gh, self.gc, self.bc = (tensors.get(n, seq.x) for n in ("gx", "gh", "gc", "bc"))
        self.bias_in_projection = not self.norm  # with layer norm b comes after LN(x W)
        self.saved_names = ("Z", "A", "CN", "PC") + (("NX", "RX", "NH", "RH", "NC", "RC", "CI") if self.norm else ())
        self.buffers: dict[str, torch.Tensor] = {n: tensors[n] for n in self.saved_names if n in tensors}

    def _launch(self, seq: loop.Sequence) -> dict[str, Any]:
        """The kernels' compile-time options and warps."""
        return dict(ACT=self.act, RACT=self.ract, PEEPHOLE=self.peephole, NORM=self.norm, ZONEOUT=self.zoneout,
                    CLIP=self.clip, ZONE_DRAWS=self.zone is not None, num_warps=seq.warps(), **seq.flags())

    def _norm_buffers(self, seq: loop.Sequence) -> list[torch.Tensor]:
        """NH, RH, NC, RC, CI (the input x as a placeholder without layer norm: not read)."""
        return [self.buffers.get(n, seq.x) for n in ("NH", "RH", "NC", "RC", "CI")]

    def _options(self, seq: loop.Sequence) -> list[torch.Tensor]:
        """zone, peep, gh, gc, bc (placeholders where absent: not read)."""
        x = seq.x
        return [t if t is not None else x for t in (self.zone, self.peep)] + [self.gh, self.gc, self.bc]

    # ---- forward

    def input_term(self, seq: loop.Sequence, with_bias: bool) -> torch.Tensor:
        """x W (+ b) for every step, (T, B, 4H)."""
        return loop.input_product(seq, with_bias).view(seq.T, seq.B, 4 * seq.H)

    def prepare(self, seq: loop.Sequence) -> None:
        T, B, H = seq.T, seq.B, seq.H
        xw = self.input_term(seq, with_bias=self.bias_in_projection)  # with layer norm b comes after LN(x W)
        new = seq.x.new_empty
        if self.norm:  # z = LN(x W) gx + b for every step at once
            nx, rx = _layer_norm_rows(xw, self.eps)
            self.buffers.update(NX=nx, RX=rx)
            xw = nx * self.gx + (seq.b if seq.b is not None else 0.0)
            self.buffers.update(NH=new(T, B, 4 * H), RH=new(T, B), NC=new(T, B, H), RC=new(T, B), CI=new(T, B, H))
        self.buffers.update(Z=xw.contiguous(), A=new(T, B, 4 * H), CN=new(T, B, H), PC=new(T, B, H))
        self.rec = new(B, 4 * H)  # each step's hin U
        buf = self.buffers
        self.forward_args = (seq.T, seq.B, H, self.eps, self.zone_p, self.cell_clip, buf["Z"], self.rec, seq.U,
                             seq.states[0], seq.states[1], seq.hin, seq.out, *seq.masks(), *self._options(seq),
                             buf["A"], buf["CN"], buf["PC"], *self._norm_buffers(seq))
        self.launch = self._launch(seq)

    def forward_step(self, seq: loop.Sequence, t: int) -> None:
        torch.mm(seq.hin[t], seq.U, out=self.rec)
        self.launch_forward(seq, t)

    def forward_sequence(self, seq: loop.Sequence) -> None:
        self.launch_forward(seq, *seq.all_steps())

    def launch_forward(self, seq: loop.Sequence, t0: int, steps: int = 1) -> None:
        """Step t0's pointwise kernel, once `rec` holds its recurrent product; or (the sequence
        kernel) every step from t0, each with its product."""
        _forward_kernel[(seq.B,)](t0, steps, *self.forward_args, **self.launch)

    def saved(self) -> dict[str, torch.Tensor]:
        return {n: self.buffers[n] for n in self.saved_names}

    # ---- backward

    def start_backward(self, seq: loop.Sequence) -> None:
        T, B, H = seq.T, seq.B, seq.H
        self.DZ = seq.x.new_empty(T, B, 4 * H)
        self.DR = seq.x.new_empty(T, B, 4 * H) if self.norm else self.DZ
        self.DCI = seq.x.new_empty(T, B, H) if self.norm else seq.x
        buf = self.buffers
        zone, peep, gh, gc, _ = self._options(seq)
        self.backward_args = (seq.T, B, H, self.zone_p, self.cell_clip, seq.U, buf["Z"], buf["A"], buf["CN"], buf["PC"],
                              seq.states[1], *self._norm_buffers(seq), zone, peep, gh, gc, seq.go, seq.carry,
                              seq.dstates[0], seq.dstates[1], seq.back, *seq.masks(), self.DZ, self.DR, self.DCI)
        self.launch = self._launch(seq)

    def backward_step(self, seq: loop.Sequence, t: int) -> None:
        self.launch_backward(seq, t)
        torch.mm(self.DR[t], seq.U.t(), out=seq.back)

    def backward_sequence(self, seq: loop.Sequence) -> None:
        self.launch_backward(seq, *seq.all_steps(reverse=True))

    def launch_backward(self, seq: loop.Sequence, t0: int, steps: int = 1) -> None:
        """Step t0's pointwise backward kernel, its product's backward to follow; or (the sequence
        kernel) every step from t0 back to the first, each with its product's backward."""
        _backward_kernel[(seq.B,)](t0, steps, *self.backward_args, **self.launch)

    def finish_backward(self, seq: loop.Sequence, grads: dict[str, torch.Tensor]) -> torch.Tensor:
        T, B, H = seq.T, seq.B, seq.H
        buf = self.buffers
        grads["U"] = seq.hin[:T].reshape(T * B, H).t() @ self.DR.reshape(T * B, 4 * H)
        dz = self.DZ
        if self.peephole:
            c_before = seq.states[1][:T]
            grads["peep"] = torch.stack([(dz[..., :H] * c_before).sum((0, 1)), (dz[..., H:2 * H] * c_before).sum((0, 1)),
                                         (dz[..., 3 * H:] * buf["CN"]).sum((0, 1))])
        if not self.norm:
            return dz
        if seq.b is not None:
            grads["b"] = dz.sum((0, 1))
        nx = buf["NX"]
        grads["gx"] = (dz * nx).sum((0, 1))
        grads["gh"] = (dz * buf["NH"]).sum((0, 1))
        grads["gc"] = (self.DCI * buf["NC"]).sum((0, 1))
        grads["bc"] = self.DCI.sum((0, 1))
        # x W's gradient through its layer norm
        dn = dz * self.gx
        m1 = dn.mean(-1, keepdim=True)
        m2 = (dn * nx).mean(-1, keepdim=True)
        return buf["RX"].unsqueeze(-1) * (dn - m1 - nx * m2)
