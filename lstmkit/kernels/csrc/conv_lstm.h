// The convolutional LSTM (Keras's ConvLSTM1D/2D/3D) as a cell of the loop skeleton. Channels
// last, each position of a sample's feature map is a row of the loop: a state (B, *S, F) is
// B·S rows of F units, its gate pre-activations (B, *S, 4F) are B·S rows of blocks i, f, c, o.
// So the step is the LSTM's pointwise math (lstm.h, with no options beyond the two
// activations) over those rows, and the recurrent product is a convolution of each sample's
// rows,
//   z = W ⋆ x_t + b + U ⋆ hin     W (4F, C, *k), U (4F, F, *k) in torch's layout
// run on channels-last views (oneDNN's fast layout: no reordering around each call). U ⋆ hin has
// "same" padding and stride 1 (odd sizes) and runs once per step over the whole batch (the loop's
// step-wise schedule, skeleton.h); W ⋆ x has the layer's strides and dilation over frames the
// layer has already padded, and runs once over every frame before the loop.
//
// The input convolution's gradients are the cell's (a spatial kernel, kSpatial): after each
// chunk of the backward, W's, b's and the chunk's frames' from the chunk's gradient rows, so no
// gradient of the whole input term is ever held. W's gradient from a single input channel (the
// first layer of most models) is a product of the frames' windows with the rows, as oneDNN's
// weight gradient is slow there (5x at one channel).
//
// Its names at the boundary: x the padded frames (T, B, *S_in, C), W, b, U, states (B, *S, F);
// integer options act, ract, and the input convolution's stride0..2, dilation0..2 (the first
// `rank` of each read).
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
  std::vector<int64_t> strides, dilation;  // the input convolution's, per spatial axis
  LstmOptions lstm;
  ConvLstmOptions(const Options& o, Named& in) : act(o.integer("act")), ract(o.integer("ract")), lstm(act, ract) {
    static const char* stride_names[3] = {"stride0", "stride1", "stride2"};
    static const char* dilation_names[3] = {"dilation0", "dilation1", "dilation2"};
    const int64_t rank = in.get("U").dim() - 2;
    TORCH_CHECK(rank >= 1 && rank <= 3, "lstmkit fused kernel: the ConvLSTM's U must be (4F, F, *k) over 1 to 3 "
                "spatial axes, got ", in.get("U").sizes());
    for (int64_t d = 0; d < 3; ++d) {  // every option is read; the first `rank` apply
      const int64_t s = o.integer(stride_names[d]), r = o.integer(dilation_names[d]);
      TORCH_CHECK(s >= 1 && r >= 1, "lstmkit fused kernel: the ConvLSTM's strides and dilation must be positive, got ",
                  stride_names[d], "=", s, " and ", dilation_names[d], "=", r);
      if (d < rank) {
        strides.push_back(s);
        dilation.push_back(r);
      }
    }
  }
};

// the n leading items of channels-last `rows` (n, *S, C) as the channels-first view (n, C, *S)
// oneDNN takes (2D and 3D: a channels-last tensor, no copy)
inline Tensor channels_first_view(const Tensor& rows, int64_t n, at::IntArrayRef spatial) {
  std::vector<int64_t> shape = {n};
  shape.insert(shape.end(), spatial.begin(), spatial.end());
  shape.push_back(rows.numel() / std::max<int64_t>(1, n * c10::multiply_integers(spatial)));
  return rows.view(shape).movedim(-1, 1);
}

// t (n, C, *S) in channels-last memory (2D and 3D), contiguous as it comes for 1D
inline Tensor channels_last(const Tensor& t) {
  const int64_t rank = t.dim() - 2;
  return rank == 2 ? t.contiguous(at::MemoryFormat::ChannelsLast)
                   : rank == 3 ? t.contiguous(at::MemoryFormat::ChannelsLast3d) : t.contiguous();
}

struct ConvLstmTensors : LstmTensors {
  std::vector<int64_t> spatial;  // S, the states' positions
  Tensor Wc;                     // W (4F, C, *k) in channels-last memory, oneDNN's layout
  template <typename F>
  static void saved_fields(ConvLstmTensors& s, F&& f) {
    f("Z", s.Z); f("A", s.A);
  }
  void read_weights(Named& in, const ConvLstmOptions& o, int64_t H, at::ScalarType dtype, int64_t, int64_t) {
    const Tensor h0 = in.get("h0");
    const Tensor U = in.get("U");
    const Tensor W = in.get("W");
    const Tensor x = in.get("x");
    const int64_t rank = h0.dim() - 2;
    TORCH_CHECK(rank >= 1 && U.dim() == rank + 2 && U.size(0) == 4 * H && U.size(1) == H && U.scalar_type() == dtype,
                "lstmkit fused kernel: the ConvLSTM's U must be (4F, F, *k) of x's dtype for states (B, *S, F), got U ",
                U.sizes(), " and h0 ", h0.sizes());
    for (int64_t d = 2; d < U.dim(); ++d) {
      TORCH_CHECK(U.size(d) % 2 == 1, "lstmkit fused kernel: the ConvLSTM's recurrent kernel must be of odd size, got ",
                  U.sizes());
    }
    TORCH_CHECK(x.dim() == rank + 3 && W.dim() == rank + 2 && W.size(0) == 4 * H && W.size(1) == x.size(-1) &&
                    W.scalar_type() == dtype,
                "lstmkit fused kernel: the ConvLSTM takes frames x (T, B, *S, C) and W (4F, C, *k) for states (B, *S, F), "
                "got x ", x.sizes(), ", W ", W.sizes(), " and h0 ", h0.sizes());
    for (int64_t d = 0; d < rank; ++d) {  // the input convolution, unpadded, gives the states' positions
      const int64_t span = o.dilation[d] * (W.size(2 + d) - 1) + 1;
      const int64_t n = x.size(2 + d) >= span ? (x.size(2 + d) - span) / o.strides[d] + 1 : 0;
      TORCH_CHECK(n == h0.size(1 + d), "lstmkit fused kernel: the ConvLSTM's frames ", x.sizes(), " convolved with W ",
                  W.sizes(), " give ", n, " positions on axis ", d, ", the states have ", h0.size(1 + d));
    }
    spatial.assign(h0.sizes().begin() + 1, h0.sizes().end() - 1);
    Wc = channels_last(W);
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
  std::vector<int64_t> ones, zeros, pads, strides, dilation;
  Tensor R;                  // the step's U ⋆ hin, rows (B·S, 4F); undefined where it is zero
  const T* r_rows = nullptr;  // R's rows, the first of them row r_first
  int64_t r_first = 0;

  ConvLstmCell(const ConvLstmTensors& w, const ConvLstmOptions& o, const Tensor& U_, int64_t T_, int64_t B_)
      : Base(w, o.lstm, U_, T_, B_, U_.size(1)), spatial(w.spatial), strides(o.strides), dilation(o.dilation) {
    const int64_t rank = U_.dim() - 2;
    Uw = channels_last(U_);
    for (int64_t n : spatial) S *= n;
    ones.assign(rank, 1);
    zeros.assign(rank, 0);
    for (int64_t d = 0; d < rank; ++d) pads.push_back(U_.size(2 + d) / 2);  // "same" for an odd size
  }

  // W ⋆ x + b for every frame: frames (T, B, *S_in, C) -> the input term (T, B·S, 4F), a fresh
  // tensor the loop may overwrite
  static Tensor project(const SequenceInputs& seq, const ConvLstmTensors& w, const ConvLstmOptions& o) {
    const int64_t T_ = seq.x.size(0), N = T_ * seq.x.size(1), rank = seq.x.dim() - 3;
    const Tensor frames = channels_first_view(seq.x, N, seq.x.sizes().slice(2, rank));
    const std::vector<int64_t> zeros(rank, 0);
    const Tensor xw = at::convolution(frames, w.Wc, seq.b, o.strides, zeros, o.dilation, false, zeros, 1);
    return xw.movedim(1, -1).contiguous().view({T_, seq.B, xw.size(1)});  // a view where oneDNN gave channels last
  }

  // the gradients of W ⋆ x + b from steps [t0, t0 + K): dxw (K, B·S, 4F) its gradient rows. Adds
  // W's (and b's) to `sums`; writes the chunk's frames of dx (T, B, *S_in, C) when it is defined.
  void project_backward(const Tensor& dxw, const SequenceInputs& seq, const ConvLstmTensors& w, int64_t t0,
                        const Tensor& dx, Sums& sums) const {
    const int64_t K = dxw.size(0), N = K * seq.x.size(1), rank = seq.x.dim() - 3, C = seq.x.size(-1);
    const at::IntArrayRef in_spatial = seq.x.sizes().slice(2, rank);
    const Tensor rows = dxw.reshape({-1, 4 * H});  // (K·B·S, 4F)
    const Tensor dz = channels_first_view(dxw, N, spatial);
    const Tensor frames = channels_first_view(seq.x.narrow(0, t0, K), N, in_spatial);
    const bool windows = C == 1 && std::all_of(dilation.begin(), dilation.end(), [](int64_t r) { return r == 1; });
    if (windows) {
      // W's (and b's) gradient as one product: the frames' windows (N, *S, C, *k) as rows of C·k
      // values, with a column of ones for the bias, times the gradient rows
      Tensor win = seq.x.narrow(0, t0, K).flatten(0, 1);  // (N, *S_in, C)
      for (int64_t d = 0; d < rank; ++d) win = win.unfold(1 + d, seq.W.size(2 + d), strides[d]);
      win = win.reshape({rows.size(0), -1});
      const int64_t Ck = win.size(1);
      if (seq.b.defined()) win = at::cat({win, at::ones({rows.size(0), 1}, win.options())}, 1);
      const Tensor g = at::mm(win.t(), rows);  // (C·k (+1), 4F): this orientation runs 2x faster
      sums.add("W", g.narrow(0, 0, Ck).t().contiguous().view(seq.W.sizes()));  // (4F, C, *k)
      if (seq.b.defined()) sums.add("b", g[Ck].clone());
    } else if (seq.b.defined()) {
      sums.add("b", rows.sum(0));
    }
    const bool want_dx = dx.defined();
    if (!windows || want_dx) {
      const auto grads = at::convolution_backward(dz, frames, w.Wc, std::nullopt, strides, zeros,
                                                  dilation, false, zeros, 1, {want_dx, !windows, false});
      if (!windows) sums.add("W", std::get<1>(grads).contiguous());
      if (want_dx) channels_first_view(dx.narrow(0, t0, K), N, in_spatial).copy_(std::get<0>(grads));
    }
  }

  static void allocate(ConvLstmTensors& s, const ConvLstmOptions& o, Tensor xw, int64_t T_, int64_t B, int64_t H,
                       bool save, const at::TensorOptions& opts) {
    Base::allocate(s, o.lstm, std::move(xw), T_, B, H, save, opts);
  }
  static void prepare_inputs(ConvLstmTensors&, const Tensor&, const ConvLstmOptions&, bool, int64_t) {}

  // the rows of n samples from `data` as a channels-first view (n, channels, *S) of
  // channels-last memory
  Tensor frames(const T* data, int64_t n, int64_t channels) const {
    const Tensor rows = at::from_blob(const_cast<T*>(data), {n * S * channels},
                                      at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value));
    return channels_first_view(rows, n, spatial);
  }
  Tensor convolve(const Tensor& h) const { return at::convolution(h, Uw, {}, ones, pads, ones, false, zeros, 1); }

  // whether rows b0..b1 of the first step's recurrent input are all zero (no initial state given:
  // then U ⋆ hin is zero, and so is that step's share of U's gradient)
  bool zero_start(const T* hin0, int64_t b0, int64_t b1) const {
    return std::all_of(hin0 + b0 * H, hin0 + b1 * H, [](T v) { return v == T(0); });
  }

  // R = U ⋆ hin[b0:b1] (rows b0..b1: whole samples), which pointwise adds to z row by row
  void recurrent(const Step<T>& st, int64_t b0, int64_t b1) {
    const int64_t n = (b1 - b0) / S;
    R = Tensor();
    r_rows = nullptr;
    if (n == 0 || (st.t == 0 && zero_start(st.hin, b0, b1))) return;
    R = convolve(frames(st.hin + b0 * H, n, H)).movedim(1, -1).contiguous();  // (n, *S, 4F): a view
    r_rows = R.data_ptr<T>();
    r_first = b0;
  }

  // the step's pointwise part for row b, its recurrent term added first (while the row is in
  // cache: no pass of its own over the step's rows)
  void pointwise(const Step<T>& st, int64_t b) {
    if (r_rows != nullptr) {
      T* z = Z.row(st.t, b);
      const T* r = r_rows + (b - r_first) * 4 * H;
      for (int64_t j = 0; j < 4 * H; ++j) z[j] += r[j];
    }
    Base::pointwise(st, b);
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
    const int64_t K = t1 - t0;
    const Tensor dz = DZ.tensor.narrow(0, 0, K);
    const int64_t skip = t0 == 0 && zero_start(carried.hin.slot(0), 0, B) ? 1 : 0;  // step 0 adds nothing
    if (skip == K) {
      sums.add("U", at::zeros(Uw.sizes(), Uw.options()));  // (a single step: U's gradient is zero)
      return dz;
    }
    const int64_t n = (K - skip) * B / S;
    const Tensor hin = carried.hin.tensor.narrow(0, t0 + skip, K - skip);
    const auto grads = at::convolution_backward(frames(dz[skip].data_ptr<T>(), n, 4 * H), frames(hin.data_ptr<T>(), n, H),
                                                Uw, std::nullopt, ones, pads, ones, false, zeros, 1, {false, true, false});
    sums.add("U", std::get<1>(grads).contiguous());
    return dz;
  }
};

// The ConvLSTM's declaration to the boundary: no tensors of its own; integer options act, ract
// and the input convolution's strides and dilation.
struct ConvLstmKernel {
  static constexpr const char* kName = "conv_lstm";
  static constexpr const char* kLabel = "ConvLSTM";
  static constexpr int kGates = 4;
  static constexpr int kStates = 2;
  static constexpr bool kSpatial = true;
  using Options = ConvLstmOptions;
  using Tensors = ConvLstmTensors;
  static const CellNames& names() {
    // CN and PC: what the Triton backend's forward keeps besides (the names are both backends')
    static const CellNames n{{},
                             {"Z", "A", "CN", "PC"},
                             {"act", "ract", "stride0", "stride1", "stride2", "dilation0", "dilation1", "dilation2"},
                             {}};
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
