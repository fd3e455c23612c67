// The GRU as a cell of the loop skeleton. Blocks z, r, h (candidate); h' = z h + (1 - z) g.
// kResetAfter (Keras's default): hu = h U + b_r and g = φ(x_h + r hu_h); without it the reset
// gate applies before the product, g = φ(x_h + (r h) U_h), which takes a second product per
// step after r is known.
//
// Saved, by name: PRE (T,B,3H) pre-activations, A (T,B,3H) activations, HU (T,B,3H) the
// recurrent terms, RHIN (T,B,H) r·hin (without reset_after).
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
};

struct GruTensors {
  Tensor b_r;               // (3H,) the recurrent bias (reset_after), or undefined
  Tensor xw;                // (T, B, 3H) x W + b (forward only)
  Tensor PRE, A, HU, RH;    // saved
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

  int64_t B, H;
  int64_t act, ract;
  const T* U;
  const T* br = nullptr;
  const T* xw = nullptr;            // (T, B, 3H), forward only
  Buffer<T> PRE, A, HU, RH;
  Buffer<T> DX, DHU;                // backward: gradients of x W + b and of hu (reset_after)
  std::vector<T> drh;               // (B, H) gradient of r·hin (not reset_after)

  GruCell(const GruTensors& w, const GruOptions& o, const Tensor& U_, int64_t, int64_t B_)
      : B(B_), H(U_.size(0)), act(o.act), ract(o.ract), U(U_.data_ptr<T>()) {
    br = data_or_null<T>(w.b_r);
    xw = data_or_null<T>(w.xw);
  }

  static void allocate(GruTensors& s, Tensor xw, int64_t T_, int64_t B, int64_t H, bool save,
                       const at::TensorOptions& opts) {
    const int64_t S = save ? T_ : 1;
    s.xw = xw;
    s.PRE = at::empty({S, B, 3 * H}, opts);
    s.A = at::empty({S, B, 3 * H}, opts);
    s.HU = at::empty({S, B, 3 * H}, opts);
    s.RH = kResetAfter ? Tensor() : at::empty({S, B, H}, opts);
  }
  static void prepare_inputs(GruTensors&, const Tensor&, const GruOptions&, bool, int64_t) {}

  void bind_saved(const GruTensors& s) {
    PRE = Buffer<T>(s.PRE, B, 3 * H);
    A = Buffer<T>(s.A, B, 3 * H);
    HU = Buffer<T>(s.HU, B, 3 * H);
    RH = Buffer<T>(s.RH, B, H);
  }

  // ---- forward

  void recurrent(const Step<T>& st, int64_t b0, int64_t b1) {
    const int64_t nb = b1 - b0, G3 = 3 * H;
    const T* hin_rows = st.hin + b0 * H;
    T* hu = HU.slot(st.s);
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
        const T* xb = xw + (st.t * B + b) * G3;
        T* preb = PRE.row(st.s, b);
        T* ab = A.row(st.s, b);
        const T* hub = hu + b * G3;
        for (int64_t j = 0; j < 2 * H; ++j) preb[j] = xb[j] + hub[j];
        act_forward(ract, preb, ab, H);
        act_forward(ract, preb + H, ab + H, H);
        const T* hinb = st.hin + b * H;
        for (int64_t j = 0; j < H; ++j) rh[b * H + j] = ab[H + j] * hinb[j];
      }
      gemm_rows<T>(nb, H, H, rh + b0 * H, H, U + 2 * H, G3, false, T(0), hu + b0 * G3 + 2 * H, G3);
    }
  }

  void pointwise(const Step<T>& st, int64_t b) {
    const T* xb = xw + (st.t * B + b) * 3 * H;
    T* preb = PRE.row(st.s, b);
    T* ab = A.row(st.s, b);
    const T* hub = HU.row(st.s, b);
    if constexpr (kResetAfter) {
      for (int64_t j = 0; j < 2 * H; ++j) preb[j] = xb[j] + hub[j];
      act_forward(ract, preb, ab, H);
      act_forward(ract, preb + H, ab + H, H);
      for (int64_t j = 0; j < H; ++j) preb[2 * H + j] = xb[2 * H + j] + ab[H + j] * hub[2 * H + j];
    } else {
      for (int64_t j = 0; j < H; ++j) preb[2 * H + j] = xb[2 * H + j] + hub[2 * H + j];
    }
    act_forward(act, preb + 2 * H, ab + 2 * H, H);
    const T* hp = st.prev[0] + b * H;
    T* hn = st.next[0] + b * H;
    for (int64_t j = 0; j < H; ++j) hn[j] = ab[j] * hp[j] + (T(1) - ab[j]) * ab[2 * H + j];
  }

  // ---- backward

  void allocate_gradients(int64_t T_, const at::TensorOptions& opts) {
    DX = Buffer<T>::make(T_, B, 3 * H, opts);
    if constexpr (kResetAfter) {
      DHU = Buffer<T>::make(T_, B, 3 * H, opts);
    } else {
      drh.resize(B * H);
    }
  }

  void skip_row(const Step<T>& st, int64_t b) {
    zero_row(DX.row(st.t, b), 3 * H);
    if constexpr (kResetAfter) zero_row(DHU.row(st.t, b), 3 * H);
  }

  void pointwise_backward(const Step<T>& st, int64_t b, T* g, T* const* ds, T* scratch) {
    const int64_t t = st.t;
    T* dga = scratch;
    T* dza = scratch + H;
    const T* ab = A.row(t, b);
    const T* preb = PRE.row(t, b);
    const T* hp = st.prev[0] + b * H;
    T* dhb = ds[0];
    T* dxb = DX.row(t, b);
    for (int64_t j = 0; j < H; ++j) {
      dza[j] = g[j] * (hp[j] - ab[2 * H + j]);
      dga[j] = g[j] * (T(1) - ab[j]);
      dhb[j] = g[j] * ab[j];  // the direct path h -> z h
    }
    act_backward(ract, preb, ab, dza, dxb, H);                       // d pre_z
    act_backward(act, preb + 2 * H, ab + 2 * H, dga, dxb + 2 * H, H);  // d pre_g
    if constexpr (kResetAfter) {
      const T* hub = HU.row(t, b);
      for (int64_t j = 0; j < H; ++j) dga[j] = dxb[2 * H + j] * hub[2 * H + j];  // d r
      act_backward(ract, preb + H, ab + H, dga, dxb + H, H);
      T* dhub = DHU.row(t, b);
      for (int64_t j = 0; j < 2 * H; ++j) dhub[j] = dxb[j];
      for (int64_t j = 0; j < H; ++j) dhub[2 * H + j] = dxb[2 * H + j] * ab[H + j];
    }
  }

  void recurrent_backward(const Step<T>& st, int64_t b0, int64_t b1, const uint8_t* kept, T* back) {
    const int64_t t = st.t, nb = b1 - b0, G3 = 3 * H;
    if constexpr (kResetAfter) {
      gemm_rows<T>(nb, H, G3, DHU.row(t, b0), G3, U, G3, true, T(0), back + b0 * H, H);  // dhu U^T
    } else {
      // the candidate's product first: d(r hin) = d pre_g U[:, 2H:]^T; then r, then z and r's product
      gemm_rows<T>(nb, H, H, DX.row(t, b0) + 2 * H, G3, U + 2 * H, G3, true, T(0), drh.data() + b0 * H, H);
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
        act_backward(ract, PRE.row(t, b) + H, ab + H, dr, DX.row(t, b) + H, H);
        for (int64_t j = 0; j < H; ++j) bk[j] = d_rh[j] * ab[H + j];
      }
      gemm_rows<T>(nb, H, 2 * H, DX.row(t, b0), G3, U, G3, true, T(1), back + b0 * H, H);  // += dzr U[:, :2H]^T
    }
  }

  Tensor finish_backward(const GruTensors& s, const Carried<T, 1>& carried, bool, Named& grads) {
    const int64_t T_ = DX.tensor.size(0), G3 = 3 * H;
    const Tensor hin = carried.hin.tensor.reshape({T_ * B, H});
    if constexpr (kResetAfter) {
      const Tensor dhu = DHU.tensor.reshape({T_ * B, G3});
      grads.insert("U", at::mm(hin.t(), dhu));
      if (br) grads.insert("b_r", dhu.sum(0));
    } else {
      const Tensor dx = DX.tensor.reshape({T_ * B, G3});
      const Tensor dU_zr = at::mm(hin.t(), dx.narrow(1, 0, 2 * H));
      const Tensor dU_h = at::mm(s.RH.reshape({T_ * B, H}).t(), dx.narrow(1, 2 * H, H));
      grads.insert("U", at::cat({dU_zr, dU_h}, 1));
    }
    return DX.tensor;
  }
};

// The GRU's declaration to the boundary: takes b_r; integer options act, ract, reset_after.
struct GruKernel {
  static constexpr const char* kName = "gru";
  static constexpr const char* kLabel = "GRU";
  static constexpr int kGates = 3;
  static constexpr int kStates = 1;
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
