// lstmkit's fused CPU kernels: whole LSTM, GRU, SimpleRNN and ConvLSTM sequences, forward and
// backward.
//
// The reference cells in lstmkit/cells/ are the specification; these kernels compute the same
// numbers faster. The pieces, one per file:
//   activations.h   vectorisable exp/sigmoid/tanh and every registered activation, both ways
//   rows.h          the per-step BLAS product, the batch split across threads, row helpers
//   skeleton.h      the one time loop, forward and backward, the input projection, and the
//                   loop's names at the boundary
//   lstm.h, gru.h, simple_rnn.h, conv_lstm.h   the cells: gate count, recurrent product,
//                   pointwise parts, and each one's declaration (its names, options and
//                   compile-time instantiation)
//   dropout.h       dropout masks from a counter-based generator
//   this file       the boundary with Python: the operators, over the list of cells
//
// Operators, for every cell:
//   describe(cell) -> (tensor names, integer option names, real option names)
//   forward(cell, tensor places, tensors, integer options, real options) -> (places, tensors)
//   backward(cell, tensor places, tensors, integer options, real options) -> (places, gradients)
// A tensor goes with its place in the cell's tensor list; every option is given, in its list's
// order. The forward returns out, h (and c) and, with the option save, what its backward needs;
// the backward takes the forward's inputs and saved tensors again, with grad_out, grad_h (and
// grad_c), and returns each input's gradient under the input's name. A missing tensor, or one
// the cell does not take, is an error. Beside them, dropout_mask(shape, dtype, p, seed) draws a
// dropout mask (dropout.h).

#include <ATen/ATen.h>
#include <torch/library.h>

#include <string>
#include <type_traits>

#include "conv_lstm.h"
#include "dropout.h"
#include "gru.h"
#include "lstm.h"
#include "simple_rnn.h"
#include "skeleton.h"

namespace lstmkit_fused {
namespace {

template <typename T, class Kernel, class Cell, class CellTensors, class CellOptions>
Named run_forward(const Signature& sig, const SequenceInputs& seq, CellTensors& w, const CellOptions& o,
                  const SequenceOptions& so) {
  const auto opts = seq.U.options();  // the loop's dtype (x may be lower: skeleton.h's low_precision)
  const int64_t T_ = seq.T_, B = seq.B, H = seq.H;
  // the input term of every step, a fresh tensor the loop overwrites: x W (+ b), or a spatial
  // cell's own (its input convolution): (T, B, G*H)
  Tensor xw;
  if constexpr (Kernel::kSpatial) {
    xw = Cell::project(seq, w, o);
  } else {
    xw = project(seq.x, seq.W, Cell::kBiasInProjection ? seq.b : Tensor());
  }
  Cell::allocate(w, o, std::move(xw), T_, B, H, so.save, opts);
  Cell::prepare_inputs(w, seq.b, o, so.save, H);
  Cell cell(w, o, seq.U, T_, B);
  cell.bind_saved(w);
  Carried<T, Cell::kStates> carried(T_, B, H, so.save, Cell::kSavedStates, seq.rmask.defined(), opts);
  for (int k = 0; k < Cell::kStates; ++k) {
    if (B * H > 0) std::memcpy(carried.states[k].slot(0), seq.states[k].template data_ptr<T>(), sizeof(T) * B * H);
  }
  Tensor out = so.return_sequences ? at::empty({T_, B, H}, opts) : at::zeros({B, H}, opts);
  const OutputRows<T> outs{out.data_ptr<T>(), B, H, so.return_sequences};
  forward_loop(cell, carried, seq.mask_data(), seq.template rmask_data<T>(), outs, so.zero_output);

  Named result(sig);
  result.insert("out", out);
  result.insert("h", carried.final_state(0, so.final_states));
  if (Cell::kStates > 1) result.insert("c", carried.final_state(1, so.final_states));
  if (so.save) {
    if (carried.keeps(0)) result.insert("H", carried.states[0].tensor);
    if (carried.keeps(1)) result.insert("C", carried.states[1].tensor);
    result.insert("HIN", carried.hin.tensor);
    CellTensors::saved_fields(w, [&](const char* name, const Tensor& t) {
      if (t.defined()) result.insert(name, t);  // the variant's own only
    });
  }
  return result;
}

template <typename T, class Kernel, class Cell, class CellTensors, class CellOptions>
Named run_backward(const SequenceInputs& seq, Named& in, CellTensors& w, const CellOptions& o,
                   const SequenceOptions& so) {
  const int64_t T_ = seq.T_, B = seq.B, H = seq.H;
  static const char* state_names[2] = {"H", "C"};
  static const char* grad_names[2] = {"grad_h", "grad_c"};
  Tensor saved_states[2];
  Tensor dstates[2];
  T* dstate_rows[2] = {nullptr, nullptr};
  for (int k = 0; k < Cell::kStates; ++k) {
    if ((Cell::kSavedStates >> k) & 1u) saved_states[k] = in.get(state_names[k]);
    dstates[k] = in.get(grad_names[k]).contiguous().clone().view(seq.states[k].sizes());
    TORCH_CHECK(dstates[k].numel() == B * H, "lstmkit fused kernel: '", grad_names[k], "' must be (B, H)");
    dstate_rows[k] = dstates[k].template data_ptr<T>();
  }
  const Tensor grad_out = in.get("grad_out").contiguous();
  TORCH_CHECK(grad_out.numel() == (so.return_sequences ? T_ : 1) * B * H,
              "lstmkit fused kernel: 'grad_out' does not match the outputs, got ", grad_out.sizes());
  const Carried<T, Cell::kStates> carried(saved_states, in.get("HIN"), T_, B, H, Cell::kSavedStates);
  CellTensors::saved_fields(w, [&](const char* name, Tensor& t) { t = in.optional(name); });
  Cell cell(w, o, seq.U, T_, B);
  cell.bind_saved(w);
  const int64_t chunk = chunk_steps(T_, B, Cell::kGates * H, int64_t(sizeof(T)), Kernel::kSpatial ? 1 : 8);
  const bool has_bias = seq.b.defined();
  const Tensor dx = so.need_dx ? at::empty_like(seq.x) : Tensor();
  cell.allocate_gradients(chunk, seq.U.options());
  Sums sums;
  auto flush = [&](int64_t t0, int64_t t1) {
    const Tensor dxw = cell.backward_chunk(w, carried, t0, t1, has_bias, sums);
    if constexpr (Kernel::kSpatial) {
      cell.project_backward(dxw, seq, w, t0, dx, sums);
    } else {
      project_backward(dxw, seq.x, seq.W, t0, has_bias && Cell::kBiasInProjection, dx, sums);
    }
  };
  backward_loop(cell, carried, seq.mask_data(), seq.template rmask_data<T>(), grad_out.data_ptr<T>(),
                so.return_sequences, so.zero_output, dstate_rows, chunk, flush);
  cell.finish_backward(has_bias, sums);

  Named grads(in.signature());
  sums.into(grads);
  if (dx.defined()) grads.insert("x", dx);
  grads.insert("h0", dstates[0]);
  if (Cell::kStates > 1) grads.insert("c0", dstates[1]);
  return grads;
}

// The signature of a cell: the loop's names and its own.
template <class Kernel>
const Signature& signature_of() {
  static const Signature sig(Kernel::kLabel, Kernel::names());
  return sig;
}

using Lists = std::tuple<std::vector<int64_t>, std::vector<Tensor>>;

// One cell's forward or backward, its options turned into template parameters.
template <class Kernel>
Lists run_cell(at::IntArrayRef places, at::TensorList tensors, at::IntArrayRef ints, at::ArrayRef<double> floats,
               bool forward) {
  const FlushDenormalsInPool flush;  // (rows.h)
  const Signature& sig = signature_of<Kernel>();
  Named in(sig, places, tensors);
  const Options opt(sig, ints, floats);
  const SequenceInputs seq(in, Kernel::kGates, Kernel::kStates, Kernel::kSpatial);
  const SequenceOptions so(opt);
  const typename Kernel::Options o(opt, in);
  typename Kernel::Tensors w;
  w.read_weights(in, o, seq.H, seq.U.scalar_type(), seq.T_, seq.B);
  Named result(sig);
  AT_DISPATCH_FLOATING_TYPES(seq.U.scalar_type(), "lstmkit_fused", [&] {
    using T = scalar_t;
    Kernel::instantiate(o, [&](auto cell_type) {
      using Cell = typename decltype(cell_type)::template type<T>;
      result = forward ? run_forward<T, Kernel, Cell>(sig, seq, w, o, so)
                       : run_backward<T, Kernel, Cell>(seq, in, w, o, so);
    });
  });
  in.check_all_read();
  return result.lists();
}

// Calls f(Kernel{}) for the kernel of the cell named `cell`.
template <class F, class Kernel, class... More>
auto with_kernel(const std::string& cell, F&& f) {
  if (cell == Kernel::kName) return f(Kernel{});
  if constexpr (sizeof...(More) > 0) {
    return with_kernel<F, More...>(cell, std::forward<F>(f));
  } else {
    TORCH_CHECK(false, "lstmkit fused kernel: unknown cell '", cell, "' (lstm, gru, simple_rnn or conv_lstm)");
    return f(Kernel{});  // not reached
  }
}

template <class F>
auto for_cell(const std::string& cell, F&& f) {
  return with_kernel<F, LstmKernel, GruKernel, SimpleRnnKernel, ConvLstmKernel>(cell, std::forward<F>(f));
}

Lists forward(const std::string& cell, at::IntArrayRef places, at::TensorList tensors, at::IntArrayRef ints,
              at::ArrayRef<double> floats) {
  return for_cell(cell, [&](auto kernel) { return run_cell<decltype(kernel)>(places, tensors, ints, floats, true); });
}

Lists backward(const std::string& cell, at::IntArrayRef places, at::TensorList tensors, at::IntArrayRef ints,
               at::ArrayRef<double> floats) {
  return for_cell(cell, [&](auto kernel) { return run_cell<decltype(kernel)>(places, tensors, ints, floats, false); });
}

std::tuple<std::vector<std::string>, std::vector<std::string>, std::vector<std::string>> describe(
    const std::string& cell) {
  return for_cell(cell, [&](auto kernel) {
    const Signature& sig = signature_of<decltype(kernel)>();
    return std::make_tuple(sig.tensors, sig.ints, sig.floats);
  });
}

}  // namespace

TORCH_LIBRARY(lstmkit_fused, m) {
  m.def("describe(str cell) -> (str[], str[], str[])", &describe);
  m.def("forward(str cell, int[] places, Tensor[] tensors, int[] ints, float[] floats) -> (int[], Tensor[])",
        &forward);
  m.def("backward(str cell, int[] places, Tensor[] tensors, int[] ints, float[] floats) -> (int[], Tensor[])",
        &backward);
  m.def("dropout_mask(int[] shape, ScalarType dtype, float p, int seed) -> Tensor", &dropout_mask);
}

}  // namespace lstmkit_fused
