// The convolutional LSTM (Keras's ConvLSTM1D/2D/3D) as a cell of the loop skeleton. Channels
// last, each position of a sample's feature map is a row of the loop: a state (B, *S, F) is
// B·S rows of F units, its gate pre-activations (B, *S, 4F) are B·S rows of blocks i, f, c, o.
// So the step is the LSTM's pointwise math (lstm.h, with no options beyond the two
// activations) over those rows, and the recurrent product is a convolution of each sample's
// rows,
//   z = x_t' + U ⋆ hin     U (4F, F, *k) in torch's layout, stride 1, "same" padding (odd k)
// run on channels-last views (oneDNN's fast layout: no reordering around each call), once per
// step over the whole batch (the loop's step-wise schedule, skeleton.h).
//
// Its input term arrives computed: the cell convolves every frame of the sequence at once
// (W ⋆ x + b, with the layer's strides, padding and dilation) and autograd takes that
// convolution's backward. So x is (T, B, *S, 4F), a tensor of the cell's own that the forward
// overwrites with the activations (A is x), the states (B, *S, F), and the kernel's dx is the
// gradient of that term, into which the backward writes its gradient rows directly. U's gradient
// is one convolution backward over each chunk of steps.
//
// Saved, by name: A (T,B,*S,4F) the gates' activations, written over the input term; Z the
// pre-activations too where an activation's backward reads them.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "lstm.h"

namespace lstmkit_fused {

struct ConvLstmOptions {
  int64_t act, ract;
  LstmOptions lstm;
  ConvLstmOptions(const Options& o, Named&) : act(o.integer("act")), ract(o.integer("ract")), lstm(act, ract) {}
};

struct ConvLstmTensors : LstmTensors {
  std::vector<int64_t> spatial;  // S
  template <typename F>
  static void saved_fields(ConvLstmTensors& s, F&& f) {
    f("Z", s.Z); f("A", s.A);
  }
  void read_weights(Named& in, const ConvLstmOptions&, int64_t H, at::ScalarType dtype, int64_t, int64_t) {
    const Tensor h0 = in.get("h0");
    const Tensor U = in.get("U");
    const int64_t rank = h0.dim() - 2;
    TORCH_CHECK(rank >= 1 && U.dim() == rank + 2 && U.size(0) == 4 * H && U.size(1) == H && U.scalar_type() == dtype,
                "lstmkit fused kernel: the ConvLSTM's U must be (4F, F, *k) of x's dtype for states (B, *S, F), got U ",
                U.sizes(), " and h0 ", h0.sizes());
    for (int64_t d = 2; d < U.dim(); ++d) {
      TORCH_CHECK(U.size(d) % 2 == 1, "lstmkit fused kernel: the ConvLSTM's recurrent kernel must be of odd size, got ",
                  U.sizes());
    }
    spatial.assign(h0.sizes().begin() + 1, h0.sizes().end() - 1);
  }
};

template <typename T>
struct ConvLstmCell : LstmCell<T, false, false, false> {
  using Base = LstmCell<T, false, false, false>;
  static constexpr bool kWholeBatchProduct = true;  // the convolution runs over the whole batch
  using Base::B;
  using Base::DR;
  using Base::DZ;
  using Base::H;
  using Base::Z;

  Tensor Uw;                     // (4F, F, *k), channels last
  std::vector<int64_t> spatial;  // S
  int64_t S = 1;                 // rows per sample
  std::vector<int64_t> ones, zeros, pads;

  ConvLstmCell(const ConvLstmTensors& w, const ConvLstmOptions& o, const Tensor& U_, int64_t T_, int64_t B_)
      : Base(w, o.lstm, U_, T_, B_, U_.size(1)), spatial(w.spatial) {
    const int64_t rank = U_.dim() - 2;
    Uw = rank == 2 ? U_.contiguous(at::MemoryFormat::ChannelsLast)
                   : rank == 3 ? U_.contiguous(at::MemoryFormat::ChannelsLast3d) : U_.contiguous();
    for (int64_t n : spatial) S *= n;
    ones.assign(rank, 1);
    zeros.assign(rank, 0);
    for (int64_t d = 0; d < rank; ++d) pads.push_back(U_.size(2 + d) / 2);  // "same" for an odd size
  }

  static void allocate(ConvLstmTensors& s, const ConvLstmOptions& o, Tensor xw, int64_t T_, int64_t B, int64_t H,
                       bool save, const at::TensorOptions& opts) {
    Base::allocate(s, o.lstm, std::move(xw), T_, B, H, save, opts);
  }
  static void prepare_inputs(ConvLstmTensors&, const Tensor&, const ConvLstmOptions&, bool, int64_t) {}

  // The backward's gradient rows are the rows of dx, the input term's gradient (the loop binds
  // each chunk's before running it): no buffer of its own.
  void allocate_gradients(int64_t, const at::TensorOptions&) {}
  void bind_gradient_rows(const Tensor& rows) {
    DZ = Buffer<T>(rows, B, 4 * H);
    DR = DZ;
  }

  // the rows of n samples from `data` as a channels-first view (n, channels, *S) of
  // channels-last memory
  Tensor frames(const T* data, int64_t n, int64_t channels) const {
    std::vector<int64_t> shape = {n};
    shape.insert(shape.end(), spatial.begin(), spatial.end());
    shape.push_back(channels);
    const Tensor rows = at::from_blob(const_cast<T*>(data), shape,
                                      at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value));
    return rows.movedim(-1, 1);
  }
  Tensor convolve(const Tensor& h) const { return at::convolution(h, Uw, {}, ones, pads, ones, false, zeros, 1); }

  // z[b0:b1] += U ⋆ hin[b0:b1] (rows b0..b1: whole samples)
  void recurrent(const Step<T>& st, int64_t b0, int64_t b1) {
    const int64_t n = (b1 - b0) / S;
    if (n == 0) return;
    frames(Z.row(st.t, b0), n, 4 * H).add_(convolve(frames(st.hin + b0 * H, n, H)));
  }

  // back[b0:b1] = the gradient of hin[b0:b1] through the convolution
  void recurrent_backward(const Step<T>& st, int64_t b0, int64_t b1, const uint8_t*, T* back) {
    const int64_t n = (b1 - b0) / S;
    if (n == 0) return;
    const auto grads = at::convolution_backward(frames(DR.row(st.g, b0), n, 4 * H), frames(st.hin + b0 * H, n, H), Uw,
                                                std::nullopt, ones, pads, ones, false, zeros, 1, {true, false, false});
    frames(back + b0 * H, n, H).copy_(std::get<0>(grads));
  }

  // steps [t0, t1): U's gradient, one convolution backward over the chunk's samples; returns the
  // gradient of the input term
  Tensor backward_chunk(const ConvLstmTensors&, const Carried<T, 2>& carried, int64_t t0, int64_t t1, bool,
                        Sums& sums) {
    const int64_t K = t1 - t0, n = K * B / S;
    const Tensor dz = DZ.tensor.narrow(0, 0, K);
    const Tensor hin = carried.hin.tensor.narrow(0, t0, K);
    const auto grads = at::convolution_backward(frames(dz.data_ptr<T>(), n, 4 * H), frames(hin.data_ptr<T>(), n, H), Uw,
                                                std::nullopt, ones, pads, ones, false, zeros, 1, {false, true, false});
    sums.add("U", std::get<1>(grads).contiguous());
    return dz;
  }
};

// The ConvLSTM's declaration to the boundary: no tensors of its own; integer options act, ract.
struct ConvLstmKernel {
  static constexpr const char* kName = "conv_lstm";
  static constexpr const char* kLabel = "ConvLSTM";
  static constexpr int kGates = 4;
  static constexpr int kStates = 2;
  static constexpr bool kInputProjected = true;
  using Options = ConvLstmOptions;
  using Tensors = ConvLstmTensors;
  static const CellNames& names() {
    // CN and PC: what the Triton backend's forward keeps besides (the names are both backends')
    static const CellNames n{{}, {"Z", "A", "CN", "PC"}, {"act", "ract"}, {}};
    return n;
  }
  struct Of {
    template <typename T>
    using type = ConvLstmCell<T>;
  };
  template <typename F>
  static void instantiate(const ConvLstmOptions&, F&& go) {
    go(Of{});
  }
};

}  // namespace lstmkit_fused
