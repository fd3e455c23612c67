// lstmkit's fused CPU kernels: whole LSTM, GRU and SimpleRNN sequences, forward and backward.
//
// The reference cells in lstmkit/cells/ are the specification; these kernels compute the same
// numbers faster. The pieces, one per file:
//   activations.h   vectorisable exp/sigmoid/tanh and every registered activation, both ways
//   rows.h          the per-step BLAS product, the batch split across threads, row helpers
//   skeleton.h      the one time loop, forward and backward, and the input projection
//   lstm.h, gru.h, simple_rnn.h   the cells: gate count, recurrent product, pointwise parts
//   this file       the boundary with Python, and the dispatch of each cell's options to its
//                   compile-time instantiation
//
// Two operators, for every cell:
//   forward(cell, tensors, options) -> tensors
//   backward(cell, tensors, options) -> gradients
// Tensors and options go by name (the name lists in skeleton.h, which lstmkit/kernels/fused.py
// reads from the library):
// x, W, b, U, h0, c0, mask, rmask and the cell's own (peep, gx, gh, gc, bc, zone; b_r) go in;
// out, h, c and, with the option save, the saved tensors (H, C, HIN and the cell's) come out.
// The backward takes the forward's inputs and saved tensors again, with grad_out, grad_h (and
// grad_c), and returns each input's gradient under the input's name. A missing tensor, or one
// the cell does not take, is an error.

#include <ATen/ATen.h>
#include <torch/library.h>

#include <string>
#include <type_traits>

#include "gru.h"
#include "lstm.h"
#include "simple_rnn.h"
#include "skeleton.h"

namespace lstmkit_fused {
namespace {

// Calls f(std::true_type) or f(std::false_type): a runtime option becomes a compile-time one.
template <typename F>
auto with_flag(bool value, F&& f) {
  return value ? f(std::true_type{}) : f(std::false_type{});
}

template <typename T, class Cell, class CellTensors, class CellOptions>
Named run_forward(const SequenceInputs& seq, CellTensors& w, const CellOptions& o, const SequenceOptions& so) {
  const auto opts = seq.x.options();
  const int64_t T_ = seq.T_, B = seq.B, H = seq.H;
  Cell::allocate(w, project(seq.x, seq.W, Cell::kBiasInProjection ? seq.b : Tensor()), T_, B, H, so.save, opts);
  Cell::prepare_inputs(w, seq.b, o, so.save, H);
  Cell cell(w, o, seq.U, T_, B);
  cell.bind_saved(w);
  Carried<T, Cell::kStates> carried(T_, B, H, so.save, Cell::kSavedStates, opts);
  for (int k = 0; k < Cell::kStates; ++k) {
    std::memcpy(carried.states[k].slot(0), seq.states[k].template data_ptr<T>(), sizeof(T) * B * H);
  }
  Tensor out = so.return_sequences ? at::empty({T_, B, H}, opts) : at::zeros({B, H}, opts);
  const OutputRows<T> outs{out.data_ptr<T>(), B, H, so.return_sequences};
  forward_loop(cell, carried, seq.mask_data(), seq.template rmask_data<T>(), outs, so.zero_output);

  Named result;
  result.insert("out", out);
  result.insert("h", carried.final_state(0));
  if (Cell::kStates > 1) result.insert("c", carried.final_state(1));
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

template <typename T, class Cell, class CellTensors, class CellOptions>
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
    dstates[k] = in.get(grad_names[k]).contiguous().clone();
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
  cell.allocate_gradients(T_, seq.x.options());
  backward_loop(cell, carried, seq.mask_data(), seq.template rmask_data<T>(), grad_out.data_ptr<T>(),
                so.return_sequences, so.zero_output, dstate_rows);

  Named grads;
  const bool has_bias = seq.b.defined();
  const Tensor dxw = cell.finish_backward(w, carried, has_bias, grads);
  project_backward(dxw, seq.x, seq.W, has_bias && Cell::kBiasInProjection, so.need_dx, grads);
  grads.insert("h0", dstates[0]);
  if (Cell::kStates > 1) grads.insert("c0", dstates[1]);
  return grads;
}

// One cell's forward or backward, its options turned into template parameters.
template <class CellOptions, class CellTensors, class Instantiate>
Named run_cell(const char* cell_name, Named& in, const Options& opt, bool forward, int64_t gates, int n_states,
               const Instantiate& instantiate) {
  const SequenceInputs seq(in, gates, n_states);
  const SequenceOptions so(opt);
  const CellOptions o(opt, in);
  CellTensors w;
  w.read_weights(in, o, seq.H, seq.U.scalar_type(), seq.T_, seq.B);
  Named result;
  AT_DISPATCH_FLOATING_TYPES(seq.x.scalar_type(), "lstmkit_fused", [&] {
    using T = scalar_t;
    instantiate(o, [&](auto cell_type) {
      using Cell = typename decltype(cell_type)::template type<T>;
      result = forward ? run_forward<T, Cell>(seq, w, o, so) : run_backward<T, Cell>(seq, in, w, o, so);
    });
  });
  in.check_all_read(cell_name);
  return result;
}

// A cell template with its non-type options bound, waiting for the number type.
template <bool kPeep, bool kNorm, bool kZone>
struct LstmOf {
  template <typename T>
  using type = LstmCell<T, kPeep, kNorm, kZone>;
};
template <bool kResetAfter>
struct GruOf {
  template <typename T>
  using type = GruCell<T, kResetAfter>;
};
struct SimpleRnnOf {
  template <typename T>
  using type = SimpleRnnCell<T>;
};

using Lists = std::tuple<std::vector<int64_t>, std::vector<Tensor>>;

Lists run(const std::string& cell, at::IntArrayRef names, at::TensorList tensors, at::ArrayRef<double> options,
          bool forward) {
  Named in(names, tensors);
  const Options opt(options);
  if (cell == "lstm") {
    return run_cell<LstmOptions, LstmTensors>("LSTM", in, opt, forward, 4, 2, [](const LstmOptions& o, auto&& go) {
      with_flag(o.peephole, [&](auto peep) {
        with_flag(o.layer_norm, [&](auto norm) {
          with_flag(o.zoneout, [&](auto zone) { go(LstmOf<decltype(peep)::value, decltype(norm)::value, decltype(zone)::value>{}); });
        });
      });
    }).lists();
  }
  if (cell == "gru") {
    return run_cell<GruOptions, GruTensors>("GRU", in, opt, forward, 3, 1, [](const GruOptions& o, auto&& go) {
      with_flag(o.reset_after, [&](auto reset_after) { go(GruOf<decltype(reset_after)::value>{}); });
    }).lists();
  }
  if (cell == "simple_rnn") {
    return run_cell<SimpleRnnOptions, SimpleRnnTensors>("SimpleRNN", in, opt, forward, 1, 1,
                                                        [](const SimpleRnnOptions&, auto&& go) { go(SimpleRnnOf{}); })
        .lists();
  }
  TORCH_CHECK(false, "lstmkit fused kernel: unknown cell '", cell, "' (lstm, gru or simple_rnn)");
}

Lists forward(const std::string& cell, at::IntArrayRef names, at::TensorList tensors, at::ArrayRef<double> options) {
  return run(cell, names, tensors, options, true);
}

Lists backward(const std::string& cell, at::IntArrayRef names, at::TensorList tensors, at::ArrayRef<double> options) {
  return run(cell, names, tensors, options, false);
}

std::vector<std::string> list_tensor_names() { return tensor_names(); }
std::vector<std::string> list_option_names() { return option_names(); }

}  // namespace

TORCH_LIBRARY(lstmkit_fused, m) {
  m.def("forward(str cell, int[] names, Tensor[] tensors, float[] options) -> (int[], Tensor[])", &forward);
  m.def("backward(str cell, int[] names, Tensor[] tensors, float[] options) -> (int[], Tensor[])", &backward);
  m.def("tensor_names() -> str[]", &list_tensor_names);
  m.def("option_names() -> str[]", &list_option_names);
}

}  // namespace lstmkit_fused
