// The LSTM as a cell of the loop skeleton. Gate blocks i, f, c, o; c' = f c + i φ(z_c);
// h' = o φ(c'), with the options of lstmkit/cells/lstm.py as compile-time parameters:
//   kPeep   peepholes p (3, H): z_i += p_i c, z_f += p_f c, z_o += p_o c'
//   kNorm   layer norm: z = LN(x W) gx + b + LN(hin U) gh (the input term of all steps is
//           normalised before the loop) and h' = o φ(LN(c') gc + bc)
//   kZone   zoneout: the carried state is h_new = d_h h + (1 - d_h) h', c_new = d_c c + (1 - d_c) c',
//           d the (T, 2, B, H) draws "zone" when training, else the expectation d = p
// and one runtime option, cell clipping: c' = clip(f c + i φ(z_c), -cell_clip, cell_clip) where
// "clip" is set; everything after (o's peephole, the norm, φ, zoneout, the carried c) sees the
// clipped value, and the gradient stops where the clip bit.
//
// Its names at the boundary (LstmKernel::names below): takes peep (3, H), gx, gh (4H,), gc, bc
// (H,) and zone; integer options act, ract, peephole, layer_norm, clip; real ones eps, zoneout,
// cell_clip.
//
// Saved for the backward, by name: A (T,B,4H) the gates' activations, written over the input
// term Z as each step reads it; Z (T,B,4H) the pre-activations too, only where an activation's
// backward reads them (Keras's tanh and sigmoid do not); CN (T,B,H) c' before zoneout and
// masking, with zoneout only (else c' is the carried c, saved anyway); with layer norm also NX
// (T,B,4H) the normalised input term, RX (T,B) its 1/std, NH (T,B,4H) the normalised recurrent
// term, RH (T,B) its 1/std, NC (T,B,H) the normalised cell, RC (T,B) its 1/std and CI (T,B,H)
// φ's input LN(c') gc + bc. φ's output is recomputed in the backward (the Triton kernels keep it
// as PC).
#pragma once

#include "activations.h"
#include "skeleton.h"

namespace lstmkit_fused {

// Zoneout draws of step t for sample b: rows of the (T, 2, B, H) draws when given (training),
// else one row of p's (inference, the expectation).
template <typename T>
struct ZoneRows {
  const T* draws = nullptr;  // (2, T, B, H), or nullptr
  std::vector<T> constant;   // H copies of p, or empty
  int64_t T_ = 0, B = 0, H = 0;
  ZoneRows() = default;
  ZoneRows(const T* draws_, double p, int64_t T__, int64_t B_, int64_t H_)
      : draws(draws_), constant(draws_ != nullptr ? 0 : H_, T(p)), T_(T__), B(B_), H(H_) {}
  const T* h(int64_t t, int64_t b) const { return draws ? draws + (2 * t * B + b) * H : constant.data(); }
  const T* c(int64_t t, int64_t b) const { return draws ? draws + ((2 * t + 1) * B + b) * H : constant.data(); }
};

struct LstmOptions {
  int64_t act, ract;  // activation ids of φ and of the gates
  bool peephole, layer_norm, zoneout, clip;
  double eps, zoneout_p, cell_clip;
  LstmOptions(const Options& o, Named& in) {
    act = o.integer("act");
    ract = o.integer("ract");
    eps = o.number("eps");
    zoneout_p = o.number("zoneout");
    cell_clip = o.number("cell_clip");
    peephole = o.flag("peephole");
    layer_norm = o.flag("layer_norm");
    clip = o.flag("clip");
    zoneout = in.has("zone") || zoneout_p > 0;
    TORCH_CHECK(!clip || cell_clip > 0, "lstmkit fused kernel: cell_clip must be positive, got ", cell_clip);
  }
  // the plain LSTM's options: no peepholes, norm, zoneout or clip (the convolutional cell's)
  LstmOptions(int64_t act_, int64_t ract_)
      : act(act_), ract(ract_), peephole(false), layer_norm(false), zoneout(false), clip(false), eps(0),
        zoneout_p(0), cell_clip(0) {}
  // whether the backward reads the gates' pre-activations z (else A is written over them)
  bool keep_z() const { return backward_reads_input(act) || backward_reads_input(ract); }
};

// The LSTM's per-sequence tensors by name: its weights beyond W, U (and b) and what it saves.
struct LstmTensors {
  Tensor peep, gx, gh, gc, bc, zone;                   // options' weights and zoneout draws
  Tensor Z, A, CN, PC, NX, RX, NH, RH, NC, RC, CI;     // saved (PC never, here)
  Tensor pc;                                           // (1, B, H) φ's output of the step (forward)
  template <typename F>
  static void saved_fields(LstmTensors& s, F&& f) {
    f("Z", s.Z); f("A", s.A); f("CN", s.CN); f("PC", s.PC); f("NX", s.NX); f("RX", s.RX);
    f("NH", s.NH); f("RH", s.RH); f("NC", s.NC); f("RC", s.RC); f("CI", s.CI);
  }
  void read_weights(Named& in, const LstmOptions& o, int64_t H, at::ScalarType dtype, int64_t T_, int64_t B) {
    auto vector = [&](const char* name, int64_t rows, bool wanted) {
      Tensor t = wanted ? in.get(name).contiguous() : Tensor();
      if (wanted) {
        TORCH_CHECK(t.numel() == rows * H && t.scalar_type() == dtype, "lstmkit fused kernel: '", name,
                    "' must have ", rows * H, " values of U's dtype, got ", t.sizes());
      }
      return t;
    };
    peep = vector("peep", 3, o.peephole);
    gx = vector("gx", 4, o.layer_norm);
    gh = vector("gh", 4, o.layer_norm);
    gc = vector("gc", 1, o.layer_norm);
    bc = vector("bc", 1, o.layer_norm);
    zone = in.optional("zone");
    if (zone.defined()) {
      zone = zone.contiguous();
      TORCH_CHECK(zone.dim() == 4 && zone.size(0) == T_ && zone.size(1) == 2 && zone.size(2) == B &&
                      zone.size(3) == H && zone.scalar_type() == dtype,
                  "lstmkit fused kernel: zoneout draws must be (T, 2, B, H), got ", zone.sizes());
    }
  }
};

template <typename T, bool kPeep, bool kNorm, bool kZone>
struct LstmCell {
  static constexpr int kGates = 4;
  static constexpr int kStates = 2;
  static constexpr int kScratchRows = 4;  // d φ(.), d c', a gate's gradient, φ(.) recomputed
  static constexpr unsigned kSavedStates = 0b10;  // the backward reads c_{t-1}, not h_{t-1}
  static constexpr bool kBiasInProjection = !kNorm;  // with layer norm b comes after LN(x W)
  static constexpr bool kWholeBatchProduct = false;  // the loop's schedule (skeleton.h)

  int64_t B, H;
  int64_t act, ract;
  double eps;
  T clip;  // cell clip bound, or 0 for none
  const T* U;
  const T* pp = nullptr;  // p_i, p_f, p_o, H each
  const T* ghp = nullptr;
  const T* gcp = nullptr;
  const T* bcp = nullptr;
  ZoneRows<T> zone;
  bool keep_z;                                 // an activation's backward reads z: A is its own buffer
  Buffer<T> Z, A, CN, PC, NH, RH, NC, RC, CI;  // per step (see the file's head); PC: (1, B, H) scratch
  Buffer<T> DZ, DR, DCI;                       // backward, per chunk: gradients of Z, of hin U before its norm, of CI
  std::vector<double> sums;                    // backward: the bias (with layer norm), gains and peepholes (below)

  LstmCell(const LstmTensors& w, const LstmOptions& o, const Tensor& U_, int64_t T_, int64_t B_)
      : LstmCell(w, o, U_, T_, B_, U_.size(0)) {}
  // with H units per sample other than U's rows (the convolutional cell's)
  LstmCell(const LstmTensors& w, const LstmOptions& o, const Tensor& U_, int64_t T_, int64_t B_, int64_t H_)
      : B(B_), H(H_), act(o.act), ract(o.ract), eps(o.eps), clip(o.clip ? T(o.cell_clip) : T(0)),
        keep_z(o.keep_z()), U(U_.data_ptr<T>()) {
    pp = data_or_null<T>(w.peep);
    ghp = data_or_null<T>(w.gh);
    gcp = data_or_null<T>(w.gc);
    bcp = data_or_null<T>(w.bc);
    if constexpr (kZone) zone = ZoneRows<T>(data_or_null<T>(w.zone), o.zoneout_p, T_, B, H);
  }

  void bind_saved(const LstmTensors& s) {
    const int64_t G4 = 4 * H;
    Z = Buffer<T>(s.Z, B, G4);
    A = Buffer<T>(s.A, B, G4);
    CN = Buffer<T>(s.CN, B, H);
    PC = Buffer<T>(s.pc, B, H);
    NH = Buffer<T>(s.NH, B, G4);
    RH = Buffer<T>(s.RH, B, 1);
    NC = Buffer<T>(s.NC, B, H);
    RC = Buffer<T>(s.RC, B, 1);
    CI = Buffer<T>(s.CI, B, H);
  }

  // ---- forward

  // The saved tensors of a run of T steps (S slots: T when saving, else 1), and the input term
  // of every step at once: with layer norm, z = LN(x W) gx + b.

  static void allocate(LstmTensors& s, const LstmOptions& o, Tensor xw, int64_t T_, int64_t B, int64_t H, bool save,
                       const at::TensorOptions& opts) {
    const int64_t S = save ? T_ : 1, G4 = 4 * H;
    const Tensor none;  // absent in this variant
    s.Z = xw;
    s.A = o.keep_z() ? at::empty({S, B, G4}, opts) : xw;
    s.CN = kZone ? at::empty({S, B, H}, opts) : none;
    s.pc = at::empty({1, B, H}, opts);
    s.NX = kNorm && save ? at::empty({T_, B, G4}, opts) : none;
    s.RX = kNorm && save ? at::empty({T_, B}, opts) : none;
    s.NH = kNorm ? at::empty({S, B, G4}, opts) : none;
    s.RH = kNorm ? at::empty({S, B}, opts) : none;
    s.NC = kNorm ? at::empty({S, B, H}, opts) : none;
    s.RC = kNorm ? at::empty({S, B}, opts) : none;
    s.CI = kNorm ? at::empty({S, B, H}, opts) : none;
  }

  static void prepare_inputs(LstmTensors& s, const Tensor& b, const LstmOptions& o, bool save, int64_t H) {
    const double eps = o.eps;
    if constexpr (kNorm) {
      const int64_t G4 = 4 * H, R = s.Z.size(0) * s.Z.size(1);
      const T* gxp = s.gx.data_ptr<T>();
      const T* bp = data_or_null<T>(b);
      T* z_all = s.Z.data_ptr<T>();
      T* nx_all = save ? s.NX.data_ptr<T>() : nullptr;
      T* rx_all = save ? s.RX.data_ptr<T>() : nullptr;
      at::parallel_for(0, R, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          T* zr = z_all + r * G4;
          T* nx = save ? nx_all + r * G4 : zr;  // kept for the backward, or in place
          if (save) copy_row(nx, zr, G4);
          const T rstd = normalise_row(nx, G4, eps);
          if (save) rx_all[r] = rstd;
          for (int64_t j = 0; j < G4; ++j) zr[j] = gxp[j] * nx[j] + (bp ? bp[j] : T(0));
        }
      });
    }
  }

  // z[b0:b1] += hin[b0:b1] U, or with layer norm z += gh LN(hin U)
  void recurrent(const Step<T>& st, int64_t b0, int64_t b1) {
    const int64_t nb = b1 - b0, G4 = 4 * H;
    T* z = Z.slot(st.t);
    const T* hin_rows = st.hin + b0 * H;
    if constexpr (kNorm) {
      T* nh = NH.slot(st.s);
      T* rh = RH.slot(st.s);
      gemm_rows<T>(nb, G4, H, hin_rows, H, U, G4, false, T(0), nh + b0 * G4, G4);
      for (int64_t b = b0; b < b1; ++b) {
        T* nhb = nh + b * G4;
        T* zb = z + b * G4;
        rh[b] = normalise_row(nhb, G4, eps);
        for (int64_t j = 0; j < G4; ++j) zb[j] += ghp[j] * nhb[j];
      }
    } else {
      gemm_rows<T>(nb, G4, H, hin_rows, H, U, G4, false, T(1), z + b0 * G4, G4);
    }
  }

  void pointwise(const Step<T>& st, int64_t b) {
    T* zb = Z.row(st.t, b);
    T* ab = keep_z ? A.row(st.s, b) : zb;                   // the activations replace z
    T* cnb = kZone ? CN.row(st.s, b) : st.next[1] + b * H;  // without zoneout c' is the carried c
    T* pcb = PC.row(0, b);
    const T* cp = st.prev[1] + b * H;
    if constexpr (kPeep) {
      for (int64_t j = 0; j < H; ++j) {
        zb[j] += pp[j] * cp[j];
        zb[H + j] += pp[H + j] * cp[j];
      }
    }
    act_forward(ract, zb, ab, H);
    act_forward(ract, zb + H, ab + H, H);
    act_forward(act, zb + 2 * H, ab + 2 * H, H);
    for (int64_t j = 0; j < H; ++j) cnb[j] = ab[H + j] * cp[j] + ab[j] * ab[2 * H + j];
    if (clip > T(0)) {
      for (int64_t j = 0; j < H; ++j) cnb[j] = std::min(std::max(cnb[j], -clip), clip);
    }
    if constexpr (kPeep) {
      for (int64_t j = 0; j < H; ++j) zb[3 * H + j] += pp[2 * H + j] * cnb[j];
    }
    act_forward(ract, zb + 3 * H, ab + 3 * H, H);
    if constexpr (kNorm) {
      T* ncb = NC.row(st.s, b);
      T* cib = CI.row(st.s, b);
      copy_row(ncb, cnb, H);
      RC.row(st.s, b)[0] = normalise_row(ncb, H, eps);
      for (int64_t j = 0; j < H; ++j) cib[j] = gcp[j] * ncb[j] + bcp[j];
      act_forward(act, cib, pcb, H);
    } else {
      act_forward(act, cnb, pcb, H);
    }
    const T* o = ab + 3 * H;
    T* hn = st.next[0] + b * H;
    T* cnext = st.next[1] + b * H;
    if constexpr (kZone) {
      const T* dh = zone.h(st.t, b);
      const T* dc = zone.c(st.t, b);
      const T* hp = st.prev[0] + b * H;
      for (int64_t j = 0; j < H; ++j) {
        hn[j] = dh[j] * hp[j] + (T(1) - dh[j]) * o[j] * pcb[j];
        cnext[j] = dc[j] * cp[j] + (T(1) - dc[j]) * cnb[j];
      }
    } else {
      for (int64_t j = 0; j < H; ++j) hn[j] = o[j] * pcb[j];  // c' is already in cnext
    }
  }

  // ---- backward

  void allocate_gradients(int64_t chunk, const at::TensorOptions& opts) {
    const int64_t G4 = 4 * H;
    DZ = Buffer<T>::make(chunk, B, G4, opts);
    DR = kNorm ? Buffer<T>::make(chunk, B, G4, opts) : DZ;
    DCI = kNorm ? Buffer<T>::make(chunk, B, H, opts) : Buffer<T>();
    if (kNorm || kPeep) sums.assign(17 * H, 0.0);
  }

  void skip_row(const Step<T>& st, int64_t b) {
    zero_row(DZ.row(st.g, b), 4 * H);
    if constexpr (kNorm) {
      zero_row(DR.row(st.g, b), 4 * H);
      zero_row(DCI.row(st.g, b), H);
    }
  }

  void pointwise_backward(const Step<T>& st, int64_t b, T* g, T* const* ds, T* scratch) {
    const int64_t t = st.t;
    T* dpc = scratch;
    T* dcn = scratch + H;
    T* dgate = scratch + 2 * H;
    T* pcb = scratch + 3 * H;
    const T* zb = keep_z ? Z.row(t, b) : nullptr;  // null: no activation's backward reads it
    const T* ab = A.row(t, b);
    const T* cnb = kZone ? CN.row(t, b) : st.next[1] + b * H;
    if constexpr (kNorm) {
      act_forward(act, CI.row(t, b), pcb, H);
    } else {
      act_forward(act, cnb, pcb, H);
    }
    const T* cp = st.prev[1] + b * H;
    T* dzb = DZ.row(st.g, b);
    T* dhb = ds[0];
    T* dcb = ds[1];  // gradient of the carried c; becomes that of c_{t-1}
    const T* zh = nullptr;
    const T* zc = nullptr;
    if constexpr (kZone) {
      zh = zone.h(t, b);
      zc = zone.c(t, b);
      // h_new = d h + (1 - d) h': d g goes straight to h_{t-1}, (1 - d) g to h'
      for (int64_t j = 0; j < H; ++j) {
        dhb[j] = zh[j] * g[j];
        g[j] *= T(1) - zh[j];
      }
    } else {
      zero_row(dhb, H);  // h_{t-1}'s gradient is added after the recurrent product
    }
    for (int64_t j = 0; j < H; ++j) dpc[j] = g[j] * ab[3 * H + j];  // through h' = o φ(.)
    if constexpr (kNorm) {
      T* dci = DCI.row(st.g, b);
      act_backward(act, CI.row(t, b), pcb, dpc, dci, H);
      normalise_row_backward(dci, gcp, NC.row(t, b), RC.row(t, b)[0], dcn, H);
    } else {
      act_backward(act, cnb, pcb, dpc, dcn, H);
    }
    if constexpr (kZone) {
      for (int64_t j = 0; j < H; ++j) dcn[j] += (T(1) - zc[j]) * dcb[j];
    } else {
      for (int64_t j = 0; j < H; ++j) dcn[j] += dcb[j];
    }
    for (int64_t j = 0; j < H; ++j) dgate[j] = g[j] * pcb[j];  // d o
    act_backward(ract, zb ? zb + 3 * H : zb, ab + 3 * H, dgate, dzb + 3 * H, H);
    if constexpr (kPeep) {
      for (int64_t j = 0; j < H; ++j) dcn[j] += dzb[3 * H + j] * pp[2 * H + j];  // o peeps at c'
    }
    // dcn is now the total gradient of c' (after its clip); the gates it came from
    if (clip > T(0)) {
      for (int64_t j = 0; j < H; ++j) dcn[j] = std::abs(cnb[j]) < clip ? dcn[j] : T(0);
    }
    for (int64_t j = 0; j < H; ++j) dgate[j] = dcn[j] * ab[2 * H + j];  // d i
    act_backward(ract, zb, ab, dgate, dzb, H);
    for (int64_t j = 0; j < H; ++j) dgate[j] = dcn[j] * cp[j];  // d f
    act_backward(ract, zb ? zb + H : zb, ab + H, dgate, dzb + H, H);
    for (int64_t j = 0; j < H; ++j) dgate[j] = dcn[j] * ab[j];  // d g
    act_backward(act, zb ? zb + 2 * H : zb, ab + 2 * H, dgate, dzb + 2 * H, H);
    // to c_{t-1}: through f, through zoneout's direct path, through the i and f peepholes
    for (int64_t j = 0; j < H; ++j) {
      T v = dcn[j] * ab[H + j];
      if constexpr (kZone) v += zc[j] * dcb[j];
      if constexpr (kPeep) v += dzb[j] * pp[j] + dzb[H + j] * pp[H + j];
      dcb[j] = v;
    }
    if constexpr (kNorm) normalise_row_backward(dzb, ghp, NH.row(t, b), RH.row(t, b)[0], DR.row(st.g, b), 4 * H);
  }

  // back[b0:b1] = dr[b0:b1] U^T
  void recurrent_backward(const Step<T>& st, int64_t b0, int64_t b1, const uint8_t*, T* back) {
    gemm_rows<T>(b1 - b0, H, 4 * H, DR.row(st.g, b0), 4 * H, U, 4 * H, true, T(0), back + b0 * H, H);
  }

  // After each chunk [t0, t1) of the backward loop: the recurrent kernel's gradient, the chunk's
  // share of the options' weights' gradients (in `sums`), and the gradient of x W (+ b).
  Tensor backward_chunk(const LstmTensors& s, const Carried<T, 2>& carried, int64_t t0, int64_t t1, bool has_bias,
                        Sums& grads) {
    const int64_t K = t1 - t0, G4 = 4 * H, r0 = t0 * B;
    const Tensor dz = DZ.tensor.narrow(0, 0, K);
    grads.add_mm("U", carried.hin.tensor.narrow(0, t0, K).reshape({K * B, H}).t(),
                 DR.tensor.narrow(0, 0, K).reshape({K * B, G4}));
    if (!kNorm && !kPeep) return dz;
    // One pass over every row of the chunk: the gradients of the bias (with layer norm, where it
    // comes after the normalisation), the gains and shift, and the peepholes; and with layer
    // norm the gradient of x W through its normalisation. Accumulator layout, in units of H:
    // b [0, 4), gx [4, 8), gh [8, 12), peepholes [12, 15), gc [15, 16), bc [16, 17). Row r of
    // the chunk's buffers is row r0 + r of the saved ones.
    Tensor dxw = kNorm ? at::empty({K, B, G4}, DZ.tensor.options()) : dz;
    const T* dz_all = DZ.data;
    const T* gxp = data_or_null<T>(s.gx);
    T* dxw_all = dxw.data_ptr<T>();
    const T* nx_all = data_or_null<T>(s.NX);
    const T* rx_all = data_or_null<T>(s.RX);
    const T* c_all = carried.states[1].data;
    const std::vector<double> chunk_sums = sum_rows(K * B, 17 * H, [&](int64_t r, double* acc) {
      const T* dz = dz_all + r * G4;
      const int64_t R = r0 + r;
      if constexpr (kNorm) {
        const T* nx = nx_all + R * G4;
        const T* dci = DCI.data + r * H;
        if (has_bias) add_values(acc, dz, G4);
        add_product(acc + 4 * H, dz, nx, G4);
        add_product(acc + 8 * H, dz, NH.data + R * G4, G4);
        add_product(acc + 15 * H, dci, NC.data + R * H, H);
        add_values(acc + 16 * H, dci, H);
        normalise_row_backward(dz, gxp, nx, rx_all[R], dxw_all + r * G4, G4);
      }
      if constexpr (kPeep) {
        const T* c_before = c_all + R * H;  // row R = t B + b of C[t]
        add_product(acc + 12 * H, dz, c_before, H);
        add_product(acc + 13 * H, dz + H, c_before, H);
        const T* c_after = kZone ? CN.data + R * H : c_all + (R + B) * H;  // c' of step t: C[t + 1]
        add_product(acc + 14 * H, dz + 3 * H, c_after, H);
      }
    });
    for (size_t j = 0; j < sums.size(); ++j) sums[j] += chunk_sums[j];
    return dxw;
  }

  // After the last chunk: the options' weights' gradients, by name.
  void finish_backward(bool has_bias, Sums& grads) {
    if (!kNorm && !kPeep) return;
    auto part = [&](int64_t from, int64_t n) {
      return at::tensor(std::vector<double>(sums.begin() + from * H, sums.begin() + (from + n) * H),
                        at::TensorOptions().dtype(at::kDouble))
          .to(DZ.tensor.scalar_type());
    };
    if constexpr (kNorm) {
      if (has_bias) grads.add("b", part(0, 4));
      grads.add("gx", part(4, 4));
      grads.add("gh", part(8, 4));
      grads.add("gc", part(15, 1));
      grads.add("bc", part(16, 1));
    }
    if constexpr (kPeep) grads.add("peep", part(12, 3).view({3, H}));
  }
};

// The LSTM's declaration to the boundary: its names, and its options as compile-time parameters.
struct LstmKernel {
  static constexpr const char* kName = "lstm";
  static constexpr const char* kLabel = "LSTM";
  static constexpr int kGates = 4;
  static constexpr int kStates = 2;
  static constexpr bool kSpatial = false;
  using Options = LstmOptions;
  using Tensors = LstmTensors;
  static const CellNames& names() {
    static const CellNames n{{"peep", "gx", "gh", "gc", "bc", "zone"},
                             {"Z", "A", "CN", "PC", "NX", "RX", "NH", "RH", "NC", "RC", "CI"},
                             {"act", "ract", "peephole", "layer_norm", "clip"},
                             {"eps", "zoneout", "cell_clip"}};
    return n;
  }
  template <bool kPeep, bool kNorm, bool kZone>
  struct Of {
    template <typename T>
    using type = LstmCell<T, kPeep, kNorm, kZone>;
  };
  template <typename F>
  static void instantiate(const LstmOptions& o, F&& go) {
    with_flag(o.peephole, [&](auto peep) {
      with_flag(o.layer_norm, [&](auto norm) {
        with_flag(o.zoneout, [&](auto zone) { go(Of<decltype(peep)::value, decltype(norm)::value, decltype(zone)::value>{}); });
      });
    });
  }
};

}  // namespace lstmkit_fused
