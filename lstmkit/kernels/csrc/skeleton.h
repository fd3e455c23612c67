// The one time loop of the fused CPU kernels, forward and backward, that every cell plugs into.
//
// Layout, time-major throughout:
//   x       (T, B, D)    the inputs (dropout already applied)
//   W, b    (D, G*H), (G*H,)  input kernel and bias, Keras layout; xw = x W + b for all steps is
//                        one matrix product, done before the loop
//   U       (H, G*H)     recurrent kernel, Keras layout
//   mask    (T, B) bool  optional; at a masked step a sample keeps its state, and its output
//                        repeats the previous output (or is zero with zero_output)
//   rmask   (B, H)       optional recurrent dropout mask, multiplies h where it enters h U
//
// A cell is a struct with
//   kGates, kStates            gate blocks per unit (4, 3, 1) and carried states (h; h and c)
//   kSavedStates               which states the backward reads (bit k: state k, every step)
//   kBiasInProjection          whether b joins x W in the projection before the loop
//   recurrent(step, b0, b1)    the recurrent product(s) of step t for batch rows b0..b1
//   pointwise(step, b)         the rest of the step for row b: writes step.next[k] for each state
//   pointwise_backward(step, b, g, dstate, scratch)
//                              from g, the whole gradient reaching h_t, writes the step's
//                              gradient rows and sets dstate[0] to what reaches h_{t-1} directly
//                              (not through U) and dstate[1] to what reaches c_{t-1} (the
//                              gradient rows hold one chunk of steps: step.g is step t's slot)
//   skip_row(step, b)          zeroes the step's gradient rows of a masked sample
//   recurrent_backward(step, b0, b1, kept, back)
//                              back[b0:b1] = gradient of h_{t-1}·rmask through the product(s)
//   kScratchRows               rows of H values pointwise_backward may use as scratch
// and, per sequence, allocate / prepare_inputs (its saved buffers; the input term before the
// loop), bind_saved, allocate_gradients (for one chunk of steps), backward_chunk (after each
// chunk of the backward loop: adds the weights' gradients to Sums by name, returns the chunk's
// gradient of x W (+ b)) and finish_backward (what it summed in its own accumulators, by name);
// a spatial cell (kSpatial: the convolutional one) also computes its input term (project) and
// that term's gradients after each chunk (project_backward), where the loop multiplies a dense
// cell's x by W. fused_cpu.cpp runs these in order. Beside it, each
// cell's header declares it to the boundary (a `...Kernel` struct): its name, its own tensor
// and option names (CellNames below), the structs that read its options and tensors, and how
// its options choose a compile-time instantiation.
// The loop owns the rest: the batch split across threads, the carried states and their saved
// slots, the recurrent input h·rmask, the masking rule, the outputs and their gradients.
//
// Memory. The forward keeps what the backward reads and nothing it can recompute cheaply; the
// recurrent input h·rmask is the saved h itself when there is no recurrent dropout. The backward
// runs its time loop in chunks of steps, last first, and turns each chunk's gradient rows into
// the weights' gradients before the next: its per-step buffers hold a chunk (about 4 MB), not
// the sequence.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "rows.h"

namespace lstmkit_fused {

// Tensors and options cross the Python boundary by name. The loop's names are listed here; each
// cell declares its own beside its math (its `names()`: the tensors it takes and saves, its
// integer options and its real-valued ones). A call's signature is the two joined: the boundary
// passes tensors with their places in the signature's tensor list, and every option of the
// signature as a typed value, in order (fused.py reads the lists from the library through the
// `describe` operator). No option has a default here: the caller gives each one.

// What a cell adds to the loop's names.
struct CellNames {
  std::vector<std::string> inputs;  // its own tensors beyond the loop's (weights, draws)
  std::vector<std::string> saved;   // what its forward keeps for its backward
  std::vector<std::string> ints;    // its integer and boolean options
  std::vector<std::string> floats;  // its real-valued options
};

// The loop's own names, every cell's: inputs (and, backward, their gradients), results, the
// saved carried states, the gradients reaching the results, and the sequence-wide options.
inline const std::vector<std::string>& loop_tensors() {
  static const std::vector<std::string> names = {"x", "W", "b", "U", "h0", "c0", "mask", "rmask", "out", "h", "c",
                                                 "H", "C", "HIN", "grad_out", "grad_h", "grad_c"};
  return names;
}

inline const std::vector<std::string>& loop_ints() {
  static const std::vector<std::string> names = {"zero_output", "return_sequences", "final_states", "save",
                                                 "need_dx"};
  return names;
}

using NameTable = std::unordered_map<std::string_view, int64_t>;

// One cell's full name lists, with hash tables from name to place (a call looks up some fifty).
struct Signature {
  const char* cell;  // for messages: "LSTM"
  std::vector<std::string> tensors, ints, floats;
  NameTable tensor_places, int_places, float_places;
  Signature(const char* cell_, const CellNames& own) : cell(cell_) {
    tensors = loop_tensors();
    tensors.insert(tensors.end(), own.inputs.begin(), own.inputs.end());
    tensors.insert(tensors.end(), own.saved.begin(), own.saved.end());
    ints = loop_ints();
    ints.insert(ints.end(), own.ints.begin(), own.ints.end());
    floats = own.floats;
    tensor_places = table(tensors);
    int_places = table(ints);
    float_places = table(floats);
  }
  static NameTable table(const std::vector<std::string>& names) {
    NameTable t;
    for (size_t i = 0; i < names.size(); ++i) t.emplace(names[i], int64_t(i));
    return t;
  }
  int64_t place(const NameTable& table, std::string_view name, const char* what) const {
    const auto it = table.find(name);
    TORCH_CHECK(it != table.end(), "lstmkit fused kernel: the ", cell, " has no ", what, " '", name, "'");
    return it->second;
  }
};

// Tensors by name: a call's inputs, or its results. Across the boundary they travel as two lists,
// the names' places in the signature's tensor list and the tensors, holding only the tensors given.
class Named {
 public:
  explicit Named(const Signature& sig) : sig_(&sig), values_(sig.tensors.size()), read_(values_.size(), false) {}
  Named(const Signature& sig, at::IntArrayRef names, at::TensorList tensors) : Named(sig) {
    TORCH_CHECK(names.size() == tensors.size(), "lstmkit fused kernel: ", names.size(), " names for ", tensors.size(),
                " tensors");
    for (size_t i = 0; i < names.size(); ++i) {
      TORCH_CHECK(names[i] >= 0 && names[i] < int64_t(values_.size()), "lstmkit fused kernel: the ", sig.cell,
                  " has no tensor number ", names[i]);
      values_[names[i]] = tensors[i];
    }
  }
  void insert(const std::string& name, Tensor t) { values_[sig_->place(sig_->tensor_places, name, "tensor")] = std::move(t); }
  bool has(const std::string& name) { return read(name).defined(); }
  Tensor get(const std::string& name) {
    const Tensor& t = read(name);
    TORCH_CHECK(t.defined(), "lstmkit fused kernel: missing tensor '", name, "'");
    return t;
  }
  Tensor optional(const std::string& name) { return read(name); }  // undefined when absent
  const Signature& signature() const { return *sig_; }
  // A tensor given that this call never read is a name this cell does not take.
  void check_all_read() const {
    for (size_t i = 0; i < values_.size(); ++i) {
      TORCH_CHECK(read_[i] || !values_[i].defined(), "lstmkit fused kernel: the ", sig_->cell, " takes no tensor '",
                  sig_->tensors[i], "'");
    }
  }
  // (names' places, tensors) of the tensors held
  std::tuple<std::vector<int64_t>, std::vector<Tensor>> lists() const {
    std::vector<int64_t> names;
    std::vector<Tensor> tensors;
    for (size_t i = 0; i < values_.size(); ++i) {
      if (!values_[i].defined()) continue;
      names.push_back(int64_t(i));
      tensors.push_back(values_[i]);
    }
    return {names, tensors};
  }

 private:
  // the tensor of that name (undefined if not given), marked as read
  const Tensor& read(const std::string& name) {
    const int64_t i = sig_->place(sig_->tensor_places, name, "tensor");
    read_[i] = true;
    return values_[i];
  }

  const Signature* sig_;
  std::vector<Tensor> values_;
  std::vector<bool> read_;
};

// A call's options, every one of the signature's, typed: integers (flags and activation ids) and
// real numbers, each list in the signature's order.
class Options {
 public:
  Options(const Signature& sig, at::IntArrayRef ints, at::ArrayRef<double> floats)
      : sig_(&sig), ints_(ints.begin(), ints.end()), floats_(floats.begin(), floats.end()) {
    TORCH_CHECK(ints_.size() == sig.ints.size() && floats_.size() == sig.floats.size(), "lstmkit fused kernel: the ",
                sig.cell, " takes ", sig.ints.size(), " integer and ", sig.floats.size(), " real options, got ",
                ints_.size(), " and ", floats_.size());
  }
  int64_t integer(const std::string& name) const { return ints_[sig_->place(sig_->int_places, name, "integer option")]; }
  bool flag(const std::string& name) const { return integer(name) != 0; }
  double number(const std::string& name) const { return floats_[sig_->place(sig_->float_places, name, "real option")]; }

 private:
  const Signature* sig_;
  std::vector<int64_t> ints_;
  std::vector<double> floats_;
};

// Calls f(std::true_type) or f(std::false_type): a runtime option becomes a compile-time one.
template <typename F>
auto with_flag(bool value, F&& f) {
  return value ? f(std::true_type{}) : f(std::false_type{});
}

// One per-step buffer: slots of B rows of `width` values, with its raw pointer cached (the loop
// asks for rows millions of times).
template <typename T>
struct Buffer {
  Tensor tensor;
  T* data = nullptr;
  int64_t B = 0, width = 0;
  Buffer() = default;
  Buffer(Tensor t, int64_t B_, int64_t width_) : tensor(std::move(t)), B(B_), width(width_) {
    data = tensor.defined() && tensor.numel() > 0 ? tensor.template data_ptr<T>() : nullptr;
  }
  static Buffer make(int64_t slots, int64_t B, int64_t width, const at::TensorOptions& opts) {
    return Buffer(at::empty({slots, B, width}, opts), B, width);
  }
  T* row(int64_t slot, int64_t b) const { return data + (slot * B + b) * width; }
  T* slot(int64_t s) const { return data + s * B * width; }
};

template <typename T>
const T* data_or_null(const Tensor& t) {
  return t.defined() && t.numel() > 0 ? t.data_ptr<T>() : nullptr;
}

// Where the output of step t goes and where the previous one is read: the full sequence, or one
// running (B, H) buffer when only the last output is returned.
template <typename T>
struct OutputRows {
  T* base;
  int64_t B, H;
  bool sequences;
  T* row(int64_t t, int64_t b) const { return base + ((sequences ? t * B : 0) + b) * H; }
  // previous output of sample b before step t (nullptr: zeros)
  const T* previous(int64_t t, int64_t b) const {
    if (!sequences) return row(0, b);  // the running buffer still holds it
    return t == 0 ? nullptr : row(t - 1, b);
  }
};

// What a cell sees of step t.
template <typename T>
struct Step {
  int64_t t;        // the time step
  int64_t s;        // its slot in the per-step buffers: t when they are kept for the backward, else 0
  const T* hin;     // (B, H) h·rmask entering the step
  const T* prev[2]; // (B, H) the carried states before the step (h, and c for an LSTM)
  T* next[2];       // (B, H) the carried states after it (forward only)
  int64_t g = 0;    // backward: its slot in the per-step gradient buffers (t less the chunk's start)
};

// The sequence-wide options every cell shares.
struct SequenceOptions {
  bool zero_output = false;       // a masked step outputs zeros instead of repeating the previous output
  bool return_sequences = false;  // every step's output, or the last
  bool final_states = true;       // the caller keeps h (and c): tensors of their own, not views of the loop's
  bool save = false;              // forward: keep what the backward needs
  bool need_dx = true;            // backward: the gradient of x is wanted
  explicit SequenceOptions(const Options& o) {
    zero_output = o.flag("zero_output");
    return_sequences = o.flag("return_sequences");
    final_states = o.flag("final_states");
    save = o.flag("save");
    need_dx = o.flag("need_dx");
  }
};

// A per-step tensor the caller checks against (slots, B, width).
inline void check_saved(const Tensor& t, int64_t slots, int64_t B, int64_t width, const char* name) {
  TORCH_CHECK(t.defined() && t.numel() == slots * B * width && t.is_contiguous(), "lstmkit fused kernel: saved '",
              name, "' must hold (", slots, ", ", B, ", ", width, ") values, got ",
              t.defined() ? t.sizes() : at::IntArrayRef{});
}

// The loop's own buffers: the carried states and the recurrent input h·rmask of each step. A
// state the cell's backward reads (bit k of kSaved) keeps T + 1 slots when saving, slot t the
// state before step t; any other state lives in two alternating slots, t % 2.
template <typename T, int kStates>
struct Carried {
  int64_t T_, B, H;
  bool save;
  unsigned saved_states;      // bit k: state k keeps every step
  Buffer<T> states[kStates];  // (T + 1 or 2, B, H)
  Buffer<T> hin;              // (T or 1, B, H) h·rmask
  // Without recurrent dropout, h·rmask is h: when h is kept for the backward, hin is a view of it.
  Carried(int64_t T__, int64_t B_, int64_t H_, bool save_, unsigned saved_states_, bool dropout,
          const at::TensorOptions& opts)
      : T_(T__), B(B_), H(H_), save(save_), saved_states(save_ ? saved_states_ : 0u) {
    for (int k = 0; k < kStates; ++k) states[k] = Buffer<T>::make(keeps(k) ? T_ + 1 : 2, B, H, opts);
    hin = save && keeps(0) && !dropout ? Buffer<T>(states[0].tensor.narrow(0, 0, T_), B, H)
                                       : Buffer<T>::make(save ? T_ : 1, B, H, opts);
  }
  // The saved buffers of a forward run that kept them, for the backward.
  Carried(const Tensor* saved, const Tensor& saved_hin, int64_t T__, int64_t B_, int64_t H_, unsigned saved_states_)
      : T_(T__), B(B_), H(H_), save(true), saved_states(saved_states_) {
    static const char* names[2] = {"H", "C"};
    for (int k = 0; k < kStates; ++k) {
      if (!keeps(k)) continue;
      check_saved(saved[k], T_ + 1, B, H, names[k]);
      states[k] = Buffer<T>(saved[k], B, H);
    }
    check_saved(saved_hin, T_, B, H, "HIN");
    hin = Buffer<T>(saved_hin, B, H);
  }
  bool keeps(int k) const { return (saved_states >> k) & 1u; }
  int64_t state_slot(int k, int64_t t) const { return keeps(k) ? t : t % 2; }
  int64_t step_slot(int64_t t) const { return save ? t : 0; }
  Step<T> step(int64_t t) const {
    Step<T> st{t, step_slot(t), hin.slot(step_slot(t)), {nullptr, nullptr}, {nullptr, nullptr}};
    for (int k = 0; k < kStates; ++k) {
      if (states[k].data == nullptr) continue;  // a state the backward does not have
      st.prev[k] = states[k].slot(state_slot(k, t));
      st.next[k] = states[k].slot(state_slot(k, t + 1));
    }
    return st;
  }
  // the state after the last step: a copy of its own (`own`), else a view of the loop's buffer
  Tensor final_state(int k, bool own) const {
    const Tensor last = states[k].tensor[state_slot(k, T_)];
    return own ? last.clone() : last;
  }
};

// The loop has two schedules. Row-wise (every cell but the convolutional one): each thread takes
// a share of the batch through the whole time loop, its recurrent products included, and the
// threads never wait for each other. Step-wise (Cell::kWholeBatchProduct): each step's product
// runs once over the whole batch with the product's own threads (a convolution parallelises far
// better over the whole batch than over a thread's share), and the step's pointwise work is
// split across threads around it.

// The forward time loop. `carried` holds the initial states in slot 0.
template <typename T, class Cell>
void forward_loop(Cell& cell, Carried<T, Cell::kStates>& carried, const bool* mask, const T* rmask,
                  const OutputRows<T>& outs, bool zero_output) {
  const int64_t T_ = carried.T_, B = carried.B, H = carried.H;
  auto start = [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      masked_input_row(carried.hin.row(0, b), carried.states[0].row(0, b), rmask ? rmask + b * H : nullptr, H);
    }
  };
  // step t after its product, for rows b0..b1: the pointwise part, the masking rule, the output
  // and the next step's recurrent input
  auto finish = [&](int64_t t, const Step<T>& step, int64_t b0, int64_t b1) {
    T* hin_next = t + 1 < T_ ? carried.hin.slot(carried.step_slot(t + 1)) : nullptr;
    for (int64_t b = b0; b < b1; ++b) {
      cell.pointwise(step, b);
      T* hn = step.next[0] + b * H;
      if (mask == nullptr || mask[t * B + b]) {
        copy_row(outs.row(t, b), hn, H);
      } else {
        for (int k = 0; k < Cell::kStates; ++k) copy_row(step.next[k] + b * H, step.prev[k] + b * H, H);
        T* dst = outs.row(t, b);  // the previous output, or zeros
        const T* previous = outs.previous(t, b);
        if (zero_output || previous == nullptr) {
          zero_row(dst, H);
        } else if (previous != dst) {
          copy_row(dst, previous, H);
        }
      }
      if (hin_next) masked_input_row(hin_next + b * H, hn, rmask ? rmask + b * H : nullptr, H);
    }
  };
  if constexpr (Cell::kWholeBatchProduct) {
    const at::NoGradGuard no_grad;
    for_batch_chunks(B, Cell::kGates * H, start);
    for (int64_t t = 0; t < T_; ++t) {
      const Step<T> step = carried.step(t);
      cell.recurrent(step, 0, B);
      for_batch_chunks(B, Cell::kGates * H, [&](int64_t b0, int64_t b1) { finish(t, step, b0, b1); });
    }
  } else {
    for_batch_chunks(B, Cell::kGates * H, [&](int64_t b0, int64_t b1) {
      start(b0, b1);
      for (int64_t t = 0; t < T_; ++t) {
        const Step<T> step = carried.step(t);
        cell.recurrent(step, b0, b1);
        finish(t, step, b0, b1);
      }
    });
  }
}

// Steps t1 - 1 down to t0 of the backward loop.
template <typename T, class Cell>
void backward_steps(Cell& cell, const Carried<T, Cell::kStates>& carried, const bool* mask, const T* rmask,
                    const T* grad_out, bool return_sequences, bool zero_output, T* const* dstates, int64_t t0,
                    int64_t t1, std::vector<T>& carry, std::vector<T>& back, std::vector<uint8_t>& kept) {
  const int64_t T_ = carried.T_, B = carried.B, H = carried.H;
  auto step_at = [&](int64_t t) {
    Step<T> step = carried.step(t);
    step.g = t - t0;
    return step;
  };
  // step t before its product's backward, for rows b0..b1 (g, scratch: the thread's own rows)
  auto pointwise = [&](int64_t t, const Step<T>& step, int64_t b0, int64_t b1, T* g, T* scratch) {
    const T* go = nullptr;  // the loss's gradient of step t's outputs
    if (return_sequences) {
      go = grad_out + t * B * H;
    } else if (t == T_ - 1) {
      go = grad_out;
    }
    for (int64_t b = b0; b < b1; ++b) {
      const bool keep = mask == nullptr || mask[t * B + b];
      kept[b] = keep;
      T* cr = carry.data() + b * H;
      for (int64_t j = 0; j < H; ++j) g[j] = (go ? go[b * H + j] : T(0)) + cr[j];
      if (!keep) {  // the states' gradients pass through unchanged
        cell.skip_row(step, b);
        if (zero_output) {
          zero_row(cr, H);
        } else {
          copy_row(cr, g, H);
        }
        continue;
      }
      zero_row(cr, H);
      T* dh = dstates[0] + b * H;
      for (int64_t j = 0; j < H; ++j) g[j] += dh[j];  // the whole gradient of h_t
      T* ds[2] = {dstates[0] + b * H, Cell::kStates > 1 ? dstates[1] + b * H : nullptr};
      cell.pointwise_backward(step, b, g, ds, scratch);
    }
  };
  // after the product's backward: what reaches h_{t-1} through it
  auto through_product = [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      if (!kept[b]) continue;  // a masked sample's rows are zero: its gradients passed through
      T* dh = dstates[0] + b * H;
      const T* bk = back.data() + b * H;
      const T* r = rmask ? rmask + b * H : nullptr;
      for (int64_t j = 0; j < H; ++j) dh[j] += r ? bk[j] * r[j] : bk[j];
    }
  };
  if constexpr (Cell::kWholeBatchProduct) {
    const at::NoGradGuard no_grad;
    for (int64_t t = t1 - 1; t >= t0; --t) {
      const Step<T> step = step_at(t);
      for_batch_chunks(B, Cell::kGates * H, [&](int64_t b0, int64_t b1) {
        std::vector<T> g(H), scratch(Cell::kScratchRows * H);
        pointwise(t, step, b0, b1, g.data(), scratch.data());
      });
      cell.recurrent_backward(step, 0, B, kept.data(), back.data());
      for_batch_chunks(B, Cell::kGates * H, through_product);
    }
  } else {
    for_batch_chunks(B, Cell::kGates * H, [&](int64_t b0, int64_t b1) {
      std::vector<T> g(H), scratch(Cell::kScratchRows * H);
      for (int64_t t = t1 - 1; t >= t0; --t) {
        const Step<T> step = step_at(t);
        pointwise(t, step, b0, b1, g.data(), scratch.data());
        cell.recurrent_backward(step, b0, b1, kept.data(), back.data());
        through_product(b0, b1);
      }
    });
  }
}

// The steps of one chunk of the backward: about 4 MB of per-step gradient rows (`width` values
// per row and step), at least `min_steps` (a dense cell's weight-gradient products want 8 steps'
// rows; a spatial cell's step is already thousands of rows), at most the sequence.
inline int64_t chunk_steps(int64_t T_, int64_t B, int64_t width, int64_t value_bytes, int64_t min_steps) {
  const int64_t per_step = std::max<int64_t>(1, B * width * value_bytes);
  return std::max<int64_t>(1, std::min<int64_t>(T_, std::max<int64_t>(min_steps, (int64_t(4) << 20) / per_step)));
}

// The backward time loop, in chunks of `chunk` steps from the last: flush(t0, t1) after chunk
// [t0, t1). dstates[k] (B, H) arrive holding the gradients of the final states and leave holding
// those of the initial states.
template <typename T, class Cell, class Flush>
void backward_loop(Cell& cell, const Carried<T, Cell::kStates>& carried, const bool* mask, const T* rmask,
                   const T* grad_out, bool return_sequences, bool zero_output, T* const* dstates, int64_t chunk,
                   const Flush& flush) {
  const int64_t T_ = carried.T_, B = carried.B, H = carried.H;
  // what a masked step passes back to the step before it (its output repeated the previous one)
  std::vector<T> carry(B * H, T(0));
  std::vector<T> back(B * H);
  std::vector<uint8_t> kept(B);
  for (int64_t t1 = T_; t1 > 0; t1 -= chunk) {
    const int64_t t0 = std::max<int64_t>(0, t1 - chunk);
    backward_steps(cell, carried, mask, rmask, grad_out, return_sequences, zero_output, dstates, t0, t1, carry, back,
                   kept);
    flush(t0, t1);
  }
}

// ---------------------------------------------------------------------------------------------
// The input projection and its gradients, shared by every cell.

// Whether x is in a lower precision than the weights (bfloat16 or float16 under a mixed-precision
// policy): then the projection and its gradients are products in x's dtype (AMX or AVX-512 BF16
// units where the CPU has them), and the loop, the states and the weights stay in W's.
inline bool low_precision(const Tensor& x, const Tensor& W) { return x.scalar_type() != W.scalar_type(); }

// xw = x W (+ b) for all T*B rows at once: (T, B, D) -> (T, B, G*H) in W's dtype, a fresh tensor
// the loop may overwrite. A low-precision x is multiplied by W rounded to its dtype; the bias is
// added in W's.
inline Tensor project(const Tensor& x, const Tensor& W, const Tensor& b) {
  const int64_t T_ = x.size(0), B = x.size(1);
  const Tensor x2 = x.reshape({T_ * B, x.size(2)});
  Tensor xw;
  if (low_precision(x, W)) {
    xw = at::mm(x2, W.to(x.scalar_type())).to(W.scalar_type());
    if (b.defined()) xw.add_(b);
  } else {
    xw = b.defined() ? at::addmm(b, x2, W) : at::mm(x2, W);
  }
  return xw.view({T_, B, W.size(1)});
}

// Gradients summed over the backward's chunks, by name.
class Sums {
 public:
  // adds t, a tensor of the caller's own (kept, not copied, when it is the first)
  void add(const std::string& name, Tensor t) {
    Tensor* held = find(name);
    if (held) {
      held->add_(t);
    } else {
      values_.emplace_back(name, std::move(t));
    }
  }
  // adds a b
  void add_mm(const std::string& name, const Tensor& a, const Tensor& b) {
    Tensor* held = find(name);
    if (held) {
      held->addmm_(a, b);
    } else {
      values_.emplace_back(name, at::mm(a, b));
    }
  }
  void into(Named& grads) const {
    for (const auto& [name, t] : values_) grads.insert(name, t);
  }

 private:
  Tensor* find(const std::string& name) {
    for (auto& [n, t] : values_) {
      if (n == name) return &t;
    }
    return nullptr;
  }
  std::vector<std::pair<std::string, Tensor>> values_;
};

// The projection's gradients from steps [t0, t0 + K) of d(x W (+ b)), dxw (K, B, G*H): adds those
// of "W" (and "b" when the bias was part of it) to `sums`, and writes the chunk's rows of dx
// (T, B, D) when it is defined.
inline void project_backward(const Tensor& dxw, const Tensor& x, const Tensor& W, int64_t t0, bool bias,
                             const Tensor& dx, Sums& sums) {
  const int64_t K = dxw.size(0), B = dxw.size(1), GH = dxw.size(2), D = x.size(2);
  const Tensor d2 = dxw.reshape({K * B, GH});
  const Tensor x2 = x.narrow(0, t0, K).reshape({K * B, D});
  if (bias) sums.add("b", d2.sum(0));
  if (low_precision(x, W)) {  // the products in x's dtype, W's gradient summed in W's
    const Tensor d2l = d2.to(x.scalar_type());
    sums.add("W", at::mm(x2.t(), d2l).to(W.scalar_type()));
    if (dx.defined()) {
      Tensor rows = dx.narrow(0, t0, K).view({K * B, D});
      at::mm_out(rows, d2l, W.t().to(x.scalar_type()));
    }
    return;
  }
  sums.add_mm("W", x2.t(), d2);
  if (dx.defined()) {
    Tensor rows = dx.narrow(0, t0, K).view({K * B, D});
    at::mm_out(rows, d2, W.t());
  }
}

// ---------------------------------------------------------------------------------------------
// What every cell's forward and backward read: the sequence, its weights, masks and states.

// A spatial cell (kSpatial: the convolutional one) takes frames x (T, B, *S_in, C), W (G*H, C, *k)
// and states (B, *S, H): each of a sample's S positions is a row of the loop, so B below counts
// rows (B·S) and the mask, given per sample, is widened to them; its weights' shapes are the
// cell's to check. Every other cell takes x (T, B, D), W (D, G*H), U (H, G*H) and states (B, H).
struct SequenceInputs {
  Tensor x, W, b, U, mask, rmask;
  std::vector<Tensor> states;  // h0 (and c0)
  int64_t T_ = 0, B = 0, D = 0, H = 0;
  int64_t group = 1;  // rows per sample

  SequenceInputs(Named& in, int64_t gates, int n_states, bool spatial) {
    x = in.get("x").contiguous();
    W = in.get("W");
    b = in.optional("b");
    U = in.get("U").contiguous();
    mask = in.optional("mask");
    rmask = in.optional("rmask");
    static const char* names[2] = {"h0", "c0"};
    for (int k = 0; k < n_states; ++k) states.push_back(in.get(names[k]).contiguous());
    TORCH_CHECK(spatial ? x.dim() >= 4 : x.dim() == 3, "lstmkit fused kernel: x must be ",
                spatial ? "(T, B, *S, C)" : "(T, B, D)", ", got ", x.sizes());
    T_ = x.size(0);
    B = x.size(1);
    D = x.size(-1);
    const bool low_x = (x.scalar_type() == at::kBFloat16 || x.scalar_type() == at::kHalf) &&
                       U.scalar_type() == at::kFloat && !spatial;  // a mixed-precision layer's input
    TORCH_CHECK((x.scalar_type() == U.scalar_type() || low_x) && W.scalar_type() == U.scalar_type(),
                "lstmkit fused kernel: x, W and U dtypes differ (x may be bfloat16 or float16 with float32 weights)");
    if (b.defined()) {
      TORCH_CHECK(b.dim() == 1 && b.size(0) == U.size(spatial ? 0 : 1) && b.scalar_type() == U.scalar_type(),
                  "lstmkit fused kernel: bias must be (G*H,) of U's dtype, got ", b.sizes());
    }
    if (spatial) {
      const Tensor& h0 = states[0];
      TORCH_CHECK(h0.dim() >= 2 && h0.size(0) == B, "lstmkit fused kernel: the states must be (B, *S, H), got ",
                  h0.sizes());
      H = h0.size(-1);
      for (int64_t d = 1; d + 1 < h0.dim(); ++d) group *= h0.size(d);
    } else {
      H = U.size(0);
      TORCH_CHECK(U.dim() == 2 && U.size(1) == gates * H, "lstmkit fused kernel: U must be (H, ", gates,
                  "*H), got ", U.sizes());
      TORCH_CHECK(W.dim() == 2 && W.size(0) == D && W.size(1) == U.size(1), "lstmkit fused kernel: W ", W.sizes(),
                  " does not match x ", x.sizes(), " and U ", U.sizes());
    }
    for (const Tensor& st : states) {
      TORCH_CHECK(st.dim() >= 2 && st.size(0) == B && st.numel() == B * group * H && st.sizes() == states[0].sizes() &&
                      st.scalar_type() == U.scalar_type(),
                  "lstmkit fused kernel: each initial state must be (B, H) of U's dtype, got ", st.sizes());
    }
    if (mask.defined()) {
      TORCH_CHECK(mask.scalar_type() == at::kBool && mask.is_contiguous() && mask.dim() == 2 && mask.size(0) == T_ &&
                      mask.size(1) == B,
                  "lstmkit fused kernel: mask must be a contiguous bool (T, B) tensor");
      if (group > 1) mask = mask.repeat_interleave(group, 1).contiguous();  // per row
    }
    if (rmask.defined()) {
      TORCH_CHECK(rmask.is_contiguous() && rmask.sizes() == states[0].sizes() && rmask.scalar_type() == U.scalar_type(),
                  "lstmkit fused kernel: recurrent mask must be a contiguous tensor of U's dtype shaped like the "
                  "states");
    }
    B *= group;  // from here on, rows
  }
  const bool* mask_data() const { return mask.defined() ? mask.data_ptr<bool>() : nullptr; }
  template <typename T>
  const T* rmask_data() const {
    return rmask.defined() ? rmask.data_ptr<T>() : nullptr;
  }
};

}  // namespace lstmkit_fused
