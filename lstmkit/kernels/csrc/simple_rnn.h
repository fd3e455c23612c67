// The SimpleRNN as a cell of the loop skeleton: h' = φ(x W + b + h U).
// Saved, by name: Z (T,B,H) pre-activations, A (T,B,H) activations.
#pragma once

#include "activations.h"
#include "skeleton.h"

namespace lstmkit_fused {

struct SimpleRnnOptions {
  int64_t act;
  SimpleRnnOptions(const Options& o, Named&) { act = o.integer("act"); }
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

  int64_t B, H;
  int64_t act;
  const T* U;
  Buffer<T> Z, A, DZ;

  SimpleRnnCell(const SimpleRnnTensors&, const SimpleRnnOptions& o, const Tensor& U_, int64_t, int64_t B_)
      : B(B_), H(U_.size(0)), act(o.act), U(U_.data_ptr<T>()) {}

  static void allocate(SimpleRnnTensors& s, Tensor xw, int64_t T_, int64_t B, int64_t H, bool save,
                       const at::TensorOptions& opts) {
    s.Z = xw;
    s.A = at::empty({save ? T_ : 1, B, H}, opts);
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
    T* ab = A.row(st.s, b);
    act_forward(act, Z.row(st.t, b), ab, H);
    copy_row(st.next[0] + b * H, ab, H);
  }

  void allocate_gradients(int64_t T_, const at::TensorOptions& opts) { DZ = Buffer<T>::make(T_, B, H, opts); }

  void skip_row(const Step<T>& st, int64_t b) { zero_row(DZ.row(st.t, b), H); }

  void pointwise_backward(const Step<T>& st, int64_t b, T* g, T* const* ds, T*) {
    act_backward(act, Z.row(st.t, b), A.row(st.t, b), g, DZ.row(st.t, b), H);
    zero_row(ds[0], H);  // h reaches h' only through U
  }

  // back[b0:b1] = dz[b0:b1] U^T
  void recurrent_backward(const Step<T>& st, int64_t b0, int64_t b1, const uint8_t*, T* back) {
    gemm_rows<T>(b1 - b0, H, H, DZ.row(st.t, b0), H, U, H, true, T(0), back + b0 * H, H);
  }

  Tensor finish_backward(const SimpleRnnTensors&, const Carried<T, 1>& carried, bool, Named& grads) {
    const int64_t T_ = DZ.tensor.size(0);
    grads.insert("U", at::mm(carried.hin.tensor.reshape({T_ * B, H}).t(), DZ.tensor.reshape({T_ * B, H})));
    return DZ.tensor;
  }
};

// The SimpleRNN's declaration to the boundary: no tensors of its own; integer option act.
struct SimpleRnnKernel {
  static constexpr const char* kName = "simple_rnn";
  static constexpr const char* kLabel = "SimpleRNN";
  static constexpr int kGates = 1;
  static constexpr int kStates = 1;
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
