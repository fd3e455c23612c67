// The GRU as a cell of the loop skeleton. Blocks z, r, h (candidate); h' = z h + (1 - z) g.
// kResetAfter (Keras's default): hu = h U + b_r and g = φ(x_h + r hu_h); without it the reset
// gate applies before the product, g = φ(x_h + (r h) U_h), which takes a second product per
// step after r is known.
//
// Saved, by name: A (T,B,3H) the activations, written over the input term x W + b as each step
// reads it; PRE (T,B,3H) the pre-activations, only where an activation's backward reads them
// (Keras's tanh and sigmoid do not); HU (T,B,H) the candidate's recurrent term hu_h
// (reset_after); RHIN (T,B,H) r·hin (without reset_after).
#pragma once

#include "activations.h"
#include "skeleton.h"

namespace lstmkit_fused {

struct GruOptions {
  int64_t act, ract;
  bool reset_after;
  GruOptions(const Options& o, Named&) {
    act = o.integer("act");
    ract = o.integer("ract");
    reset_after = o.flag("reset_after");
  }
  bool keep_pre() const { return backward_reads_input(act) || backward_reads_input(ract); }
};

struct GruTensors {
  Tensor b_r;              // (3H,) the recurrent bias (reset_after), or undefined
  Tensor hu;               // (1, B, 3H) the step's recurrent terms (forward only)
  Tensor PRE, A, HU, RH;   // saved
  template <typename F>
  static void saved_fields(GruTensors& s, F&& f) {
    f("PRE", s.PRE); f("A", s.A); f("HU", s.HU); f("RHIN", s.RH);
  }
  void read_weights(Named& in, const GruOptions& o, int64_t H, at::ScalarType dtype, int64_t, int64_t) {
    b_r = o.reset_after ? in.optional("b_r") : Tensor();
    if (b_r.defined()) {
      b_r = b_r.contiguous();
      TORCH_CHECK(b_r.numel() == 3 * H && b_r.scalar_type() == dtype,
                  "lstmkit fused kernel: 'b_r' must have 3H values of U's dtype, got ", b_r.sizes());
    }
  }
};

template <typename T, bool kResetAfter>
struct GruCell {
  static constexpr int kGates = 3;
  static constexpr int kStates = 1;
  static constexpr int kScratchRows = 2;
  static constexpr unsigned kSavedStates = 0b1;  // the backward reads h_{t-1}
  static constexpr bool kBiasInProjection = true;
  static constexpr bool kWholeBatchProduct = false;  // the loop's schedule (skeleton.h)

  int64_t B, H;
  int64_t act, ract;
  bool keep_pre;
  const T* U;
  const T* br = nullptr;
  Buffer<T> PRE, A, HU, RH, HUS;    // HUS: the step's hu, (1, B, 3H)
  Buffer<T> DX, DHU;                // backward, per chunk: gradients of x W + b and of hu (reset_after)
  std::vector<T> drh;               // (B, H) gradient of r·hin (not reset_after)

  GruCell(const GruTensors& w, const GruOptions& o, const Tensor& U_, int64_t, int64_t B_)
      : B(B_), H(U_.size(0)), act(o.act), ract(o.ract), keep_pre(o.keep_pre()), U(U_.data_ptr<T>()) {
    br = data_or_null<T>(w.b_r);
  }

  static void allocate(GruTensors& s, const GruOptions& o, Tensor xw, int64_t T_, int64_t B, int64_t H, bool save,
                       const at::TensorOptions& opts) {
    s.A = xw;  // each step's activations replace its input term
    s.PRE = at::empty({save && o.keep_pre() ? T_ : 1, B, 3 * H}, opts);
    s.hu = at::empty({1, B, 3 * H}, opts);
    s.HU = kResetAfter && save ? at::empty({T_, B, H}, opts) : Tensor();
    s.RH = kResetAfter ? Tensor() : at::empty({save ? T_ : 1, B, H}, opts);
  }
  static void prepare_inputs(GruTensors&, const Tensor&, const GruOptions&, bool, int64_t) {}

  void bind_saved(const GruTensors& s) {
    PRE = Buffer<T>(s.PRE, B, 3 * H);
    A = Buffer<T>(s.A, B, 3 * H);
    HU = Buffer<T>(s.HU, B, H);
    RH = Buffer<T>(s.RH, B, H);
    HUS = Buffer<T>(s.hu, B, 3 * H);
  }

  // step t's pre-activations of sample b: kept, or scratch
  T* pre_row(const Step<T>& st, int64_t b) const { return PRE.row(keep_pre ? st.s : 0, b); }
  // the saved pre-activations at an offset, or null where the backward does not read them
  const T* saved_pre(int64_t t, int64_t b, int64_t offset) const { return keep_pre ? PRE.row(t, b) + offset : nullptr; }

  // ---- forward. Row b of A at step t holds x W + b until the step reads it, then the activations.

  void recurrent(const Step<T>& st, int64_t b0, int64_t b1) {
    const int64_t nb = b1 - b0, G3 = 3 * H;
    const T* hin_rows = st.hin + b0 * H;
    T* hu = HUS.slot(0);
    if constexpr (kResetAfter) {
      // hu[b0:b1] = b_r + hin[b0:b1] U
      if (br) {
        for (int64_t b = b0; b < b1; ++b) copy_row(hu + b * G3, br, G3);
      }
      gemm_rows<T>(nb, G3, H, hin_rows, H, U, G3, false, br ? T(1) : T(0), hu + b0 * G3, G3);
    } else {
      // hu[b0:b1, :2H] = hin[b0:b1] U[:, :2H]; then z and r, r·hin; hu[b0:b1, 2H:] = (r hin) U[:, 2H:]
      gemm_rows<T>(nb, 2 * H, H, hin_rows, H, U, G3, false, T(0), hu + b0 * G3, G3);
      T* rh = RH.slot(st.s);
      for (int64_t b = b0; b < b1; ++b) {
        T* ab = A.row(st.t, b);  // x W + b in, z and r out
        T* preb = pre_row(st, b);
        const T* hub = hu + b * G3;
        for (int64_t j = 0; j < 2 * H; ++j) preb[j] = ab[j] + hub[j];
        act_forward(ract, preb, ab, H);
        act_forward(ract, preb + H, ab + H, H);
        const T* hinb = st.hin + b * H;
        for (int64_t j = 0; j < H; ++j) rh[b * H + j] = ab[H + j] * hinb[j];
      }
      gemm_rows<T>(nb, H, H, rh + b0 * H, H, U + 2 * H, G3, false, T(0), hu + b0 * G3 + 2 * H, G3);
    }
  }

  void pointwise(const Step<T>& st, int64_t b) {
    T* ab = A.row(st.t, b);
    T* preb = pre_row(st, b);
    const T* hub = HUS.row(0, b);
    if constexpr (kResetAfter) {
      for (int64_t j = 0; j < 2 * H; ++j) preb[j] = ab[j] + hub[j];
      act_forward(ract, preb, ab, H);
      act_forward(ract, preb + H, ab + H, H);
      for (int64_t j = 0; j < H; ++j) preb[2 * H + j] = ab[2 * H + j] + ab[H + j] * hub[2 * H + j];
      if (HU.data) copy_row(HU.row(st.t, b), hub + 2 * H, H);
    } else {
      for (int64_t j = 0; j < H; ++j) preb[2 * H + j] = ab[2 * H + j] + hub[2 * H + j];
    }
    act_forward(act, preb + 2 * H, ab + 2 * H, H);
    const T* hp = st.prev[0] + b * H;
    T* hn = st.next[0] + b * H;
    for (int64_t j = 0; j < H; ++j) hn[j] = ab[j] * hp[j] + (T(1) - ab[j]) * ab[2 * H + j];
  }

  // ---- backward

  void allocate_gradients(int64_t chunk, const at::TensorOptions& opts) {
    DX = Buffer<T>::make(chunk, B, 3 * H, opts);
    if constexpr (kResetAfter) {
      DHU = Buffer<T>::make(chunk, B, 3 * H, opts);
    } else {
      drh.resize(B * H);
    }
  }

  void skip_row(const Step<T>& st, int64_t b) {
    zero_row(DX.row(st.g, b), 3 * H);
    if constexpr (kResetAfter) zero_row(DHU.row(st.g, b), 3 * H);
  }

  void pointwise_backward(const Step<T>& st, int64_t b, T* g, T* const* ds, T* scratch) {
    const int64_t t = st.t;
    T* dga = scratch;
    T* dza = scratch + H;
    const T* ab = A.row(t, b);
    const T* hp = st.prev[0] + b * H;
    T* dhb = ds[0];
    T* dxb = DX.row(st.g, b);
    for (int64_t j = 0; j < H; ++j) {
      dza[j] = g[j] * (hp[j] - ab[2 * H + j]);
      dga[j] = g[j] * (T(1) - ab[j]);
      dhb[j] = g[j] * ab[j];  // the direct path h -> z h
    }
    act_backward(ract, saved_pre(t, b, 0), ab, dza, dxb, H);                       // d pre_z
    act_backward(act, saved_pre(t, b, 2 * H), ab + 2 * H, dga, dxb + 2 * H, H);    // d pre_g
    if constexpr (kResetAfter) {
      const T* huh = HU.row(t, b);
      for (int64_t j = 0; j < H; ++j) dga[j] = dxb[2 * H + j] * huh[j];  // d r
      act_backward(ract, saved_pre(t, b, H), ab + H, dga, dxb + H, H);
      T* dhub = DHU.row(st.g, b);
      for (int64_t j = 0; j < 2 * H; ++j) dhub[j] = dxb[j];
      for (int64_t j = 0; j < H; ++j) dhub[2 * H + j] = dxb[2 * H + j] * ab[H + j];
    }
  }

  void recurrent_backward(const Step<T>& st, int64_t b0, int64_t b1, const uint8_t* kept, T* back) {
    const int64_t t = st.t, nb = b1 - b0, G3 = 3 * H;
    if constexpr (kResetAfter) {
      gemm_rows<T>(nb, H, G3, DHU.row(st.g, b0), G3, U, G3, true, T(0), back + b0 * H, H);  // dhu U^T
    } else {
      // the candidate's product first: d(r hin) = d pre_g U[:, 2H:]^T; then r, then z and r's product
      gemm_rows<T>(nb, H, H, DX.row(st.g, b0) + 2 * H, G3, U + 2 * H, G3, true, T(0), drh.data() + b0 * H, H);
      for (int64_t b = b0; b < b1; ++b) {
        T* bk = back + b * H;
        if (!kept[b]) {
          zero_row(bk, H);
          continue;
        }
        const T* d_rh = drh.data() + b * H;
        const T* hinb = st.hin + b * H;
        const T* ab = A.row(t, b);
        T* dr = bk;  // used as scratch for d r, then holds r's share of d hin
        for (int64_t j = 0; j < H; ++j) dr[j] = d_rh[j] * hinb[j];
        act_backward(ract, saved_pre(t, b, H), ab + H, dr, DX.row(st.g, b) + H, H);
        for (int64_t j = 0; j < H; ++j) bk[j] = d_rh[j] * ab[H + j];
      }
      gemm_rows<T>(nb, H, 2 * H, DX.row(st.g, b0), G3, U, G3, true, T(1), back + b0 * H, H);  // += dzr U[:, :2H]^T
    }
  }

  // steps [t0, t1): U's (and b_r's) gradient; returns that of x W + b
  Tensor backward_chunk(const GruTensors& s, const Carried<T, 1>& carried, int64_t t0, int64_t t1, bool,
                        Sums& sums) {
    const int64_t K = t1 - t0, G3 = 3 * H;
    const Tensor hin = carried.hin.tensor.narrow(0, t0, K).reshape({K * B, H});
    const Tensor dx = DX.tensor.narrow(0, 0, K);
    if constexpr (kResetAfter) {
      const Tensor dhu = DHU.tensor.narrow(0, 0, K).reshape({K * B, G3});
      sums.add_mm("U", hin.t(), dhu);
      if (br) sums.add("b_r", dhu.sum(0));
    } else {
      const Tensor d2 = dx.reshape({K * B, G3});
      const Tensor dU_zr = at::mm(hin.t(), d2.narrow(1, 0, 2 * H));
      const Tensor dU_h = at::mm(s.RH.narrow(0, t0, K).reshape({K * B, H}).t(), d2.narrow(1, 2 * H, H));
      sums.add("U", at::cat({dU_zr, dU_h}, 1));
    }
    return dx;
  }
  void finish_backward(bool, Sums&) {}
};

// The GRU's declaration to the boundary: takes b_r; integer options act, ract, reset_after.
struct GruKernel {
  static constexpr const char* kName = "gru";
  static constexpr const char* kLabel = "GRU";
  static constexpr int kGates = 3;
  static constexpr int kStates = 1;
  static constexpr bool kSpatial = false;
  using Options = GruOptions;
  using Tensors = GruTensors;
  static const CellNames& names() {
    static const CellNames n{{"b_r"}, {"PRE", "A", "HU", "RHIN"}, {"act", "ract", "reset_after"}, {}};
    return n;
  }
  template <bool kResetAfter>
  struct Of {
    template <typename T>
    using type = GruCell<T, kResetAfter>;
  };
  template <typename F>
  static void instantiate(const GruOptions& o, F&& go) {
    with_flag(o.reset_after, [&](auto reset_after) { go(Of<decltype(reset_after)::value>{}); });
  }
};

}  // namespace lstmkit_fused
