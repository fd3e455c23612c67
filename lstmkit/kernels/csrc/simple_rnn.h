// The SimpleRNN as a cell of the loop skeleton: h' = φ(x W + b + h U).
// Saved, by name: A (T,B,H) activations, written over the input term x W + b; Z (T,B,H) the
// pre-activations too where φ's backward reads them.
#pragma once

#include "activations.h"
#include "skeleton.h"

namespace lstmkit_fused {

struct SimpleRnnOptions {
  int64_t act;
  SimpleRnnOptions(const Options& o, Named&) { act = o.integer("act"); }
  // whether φ's backward reads z (else A is written over it)
  bool keep_z() const { return backward_reads_input(act); }
};

struct SimpleRnnTensors {
  Tensor Z, A;  // saved
  template <typename F>
  static void saved_fields(SimpleRnnTensors& s, F&& f) {
    f("Z", s.Z); f("A", s.A);
  }
  void read_weights(Named&, const SimpleRnnOptions&, int64_t, at::ScalarType, int64_t, int64_t) {}
};

template <typename T>
struct SimpleRnnCell {
  static constexpr int kGates = 1;
  static constexpr int kStates = 1;
  static constexpr int kScratchRows = 0;
  static constexpr unsigned kSavedStates = 0;  // none: the backward reads z and φ(z)
  static constexpr bool kBiasInProjection = true;
  static constexpr bool kWholeBatchProduct = false;  // the loop's schedule (skeleton.h)

  int64_t B, H;
  int64_t act;
  bool keep_z;  // φ's backward reads z: A is a buffer of its own, else A is Z, overwritten
  const T* U;
  Buffer<T> Z, A, DZ;

  SimpleRnnCell(const SimpleRnnTensors&, const SimpleRnnOptions& o, const Tensor& U_, int64_t, int64_t B_)
      : B(B_), H(U_.size(0)), act(o.act), keep_z(o.keep_z()), U(U_.data_ptr<T>()) {}

  static void allocate(SimpleRnnTensors& s, const SimpleRnnOptions& o, Tensor xw, int64_t T_, int64_t B, int64_t H,
                       bool save, const at::TensorOptions& opts) {
    s.Z = xw;
    s.A = o.keep_z() ? at::empty({save ? T_ : 1, B, H}, opts) : xw;
  }
  static void prepare_inputs(SimpleRnnTensors&, const Tensor&, const SimpleRnnOptions&, bool, int64_t) {}

  void bind_saved(const SimpleRnnTensors& s) {
    Z = Buffer<T>(s.Z, B, H);
    A = Buffer<T>(s.A, B, H);
  }

  // z[b0:b1] += hin[b0:b1] U
  void recurrent(const Step<T>& st, int64_t b0, int64_t b1) {
    gemm_rows<T>(b1 - b0, H, H, st.hin + b0 * H, H, U, H, false, T(1), Z.row(st.t, b0), H);
  }

  void pointwise(const Step<T>& st, int64_t b) {
    T* ab = A.row(keep_z ? st.s : st.t, b);
    act_forward(act, Z.row(st.t, b), ab, H);
    copy_row(st.next[0] + b * H, ab, H);
  }

  void allocate_gradients(int64_t chunk, const at::TensorOptions& opts) { DZ = Buffer<T>::make(chunk, B, H, opts); }

  void skip_row(const Step<T>& st, int64_t b) { zero_row(DZ.row(st.g, b), H); }

  void pointwise_backward(const Step<T>& st, int64_t b, T* g, T* const* ds, T*) {
    act_backward(act, keep_z ? Z.row(st.t, b) : nullptr, A.row(st.t, b), g, DZ.row(st.g, b), H);
    zero_row(ds[0], H);  // h reaches h' only through U
  }

  // back[b0:b1] = dz[b0:b1] U^T
  void recurrent_backward(const Step<T>& st, int64_t b0, int64_t b1, const uint8_t*, T* back) {
    gemm_rows<T>(b1 - b0, H, H, DZ.row(st.g, b0), H, U, H, true, T(0), back + b0 * H, H);
  }

  // steps [t0, t1): U's gradient; returns that of x W + b
  Tensor backward_chunk(const SimpleRnnTensors&, const Carried<T, 1>& carried, int64_t t0, int64_t t1, bool,
                        Sums& sums) {
    const int64_t K = t1 - t0;
    const Tensor dz = DZ.tensor.narrow(0, 0, K);
    sums.add_mm("U", carried.hin.tensor.narrow(0, t0, K).reshape({K * B, H}).t(), dz.reshape({K * B, H}));
    return dz;
  }
  void finish_backward(bool, Sums&) {}
};

// The SimpleRNN's declaration to the boundary: no tensors of its own; integer option act.
struct SimpleRnnKernel {
  static constexpr const char* kName = "simple_rnn";
  static constexpr const char* kLabel = "SimpleRNN";
  static constexpr int kGates = 1;
  static constexpr int kStates = 1;
  static constexpr bool kSpatial = false;
  using Options = SimpleRnnOptions;
  using Tensors = SimpleRnnTensors;
  static const CellNames& names() {
    static const CellNames n{{}, {"Z", "A"}, {"act"}, {}};
    return n;
  }
  struct Of {
    template <typename T>
    using type = SimpleRnnCell<T>;
  };
  template <typename F>
  static void instantiate(const SimpleRnnOptions&, F&& go) {
    go(Of{});
  }
};

}  // namespace lstmkit_fused
