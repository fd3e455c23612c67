// lstmkit's fused CPU kernels: whole LSTM, GRU and SimpleRNN sequences, forward and backward.
//
// The reference cells in lstmkit/cells/ are the specification; these kernels compute the same
// numbers faster. The layout is time-major throughout:
//
//   x       (T, B, D)    the inputs (dropout already applied)
//   W, b    (D, G*H), (G*H,)  input kernel and bias, Keras layout; xw = x W + b for all steps
//                        is one matrix product, done first
//   U       (H, G*H)     recurrent kernel, Keras layout
//   mask    (T, B) bool  optional; at a masked step a sample keeps its state, and its output
//                        repeats the previous output (or is zero with zero_output)
//   rmask   (B, H)       optional recurrent dropout mask, multiplies h where it enters h U
//
// Per step there is one more matrix product (two for a GRU with reset_after=false) and one pass of
// pointwise code over the batch rows; the backward loop does the same in reverse and the
// recurrent kernel's gradient is one product over all steps at the end.
//
// Activations are passed as integer ids; the order matches lstmkit/kernels/fused.py.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

// BLAS's general matrix product, when the torch build exports it (MKL and OpenBLAS builds do).
// Declared weak: where it is missing the pointers are null and gemm_rows uses at::mm instead.
extern "C" {
void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k, const float* alpha,
            const float* a, const int* lda, const float* b, const int* ldb, const float* beta, float* c,
            const int* ldc) __attribute__((weak));
void dgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k, const double* alpha,
            const double* a, const int* lda, const double* b, const int* ldb, const double* beta, double* c,
            const int* ldc) __attribute__((weak));
}

namespace lstmkit_fused {
namespace {

using at::Tensor;

// ---------------------------------------------------------------------------------------------
// Exponential written with plain arithmetic so the compiler can vectorise the loops using it:
// exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 (ln 2 split in two parts so r stays
// exact), exp(r) from a minimax polynomial (float) or a Pade form (double); coefficients are the
// published Cephes ones.

inline float exp_approx(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

inline double exp_approx(double x) {
  x = std::min(std::max(x, -708.0), 709.0);
  // Adding 1.5 * 2^52 rounds x / ln 2 to an integer held in the low mantissa bits, which avoids
  // a double -> int64 conversion (AVX2 has none) so this loop vectorises too.
  constexpr double kShifter = 6755399441055744.0;
  const double shifted = x * 1.4426950408889634073599 + kShifter;
  const double n = shifted - kShifter;
  const double r = x - n * 6.93145751953125e-1 - n * 1.42860682030941723212e-6;
  const double rr = r * r;
  const double px = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr +
                         9.99999999999999999910e-1);
  const double qx = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr +
                     2.27265548208155028766e-1) * rr + 2.00000000000000000009e0;
  const double e = 1.0 + 2.0 * px / (qx - px);
  int64_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  bits = (bits + 1023) << 52;  // only n + 1023 survives the shift: the exponent of 2^n
  double scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return e * scale;
}

template <typename T>
inline T sigmoid_approx(T x) {
  return T(1) / (T(1) + exp_approx(-x));
}

// tanh(x) = sign(x) (1 - 2 / (exp(2|x|) + 1)); near zero (float) an odd polynomial keeps the
// relative error small.
template <typename T>
inline T tanh_approx(T x) {
  const T ax = std::abs(x);
  T t = T(1) - T(2) / (exp_approx(T(2) * ax) + T(1));
  t = x < T(0) ? -t : t;
  if constexpr (std::is_same_v<T, float>) {
    const float z = x * x;
    const float small =
        ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
          1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
    t = ax < 0.625f ? small : t;
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// Activations: y = f(z) over a row of n values, and dz = dy * f'(z) given z and y. The ids match
// ACTIVATION_IDS in lstmkit/kernels/fused.py.

enum Act : int64_t {
  LINEAR = 0, TANH, SIGMOID, HARD_SIGMOID, RELU, RELU6, LEAKY_RELU, ELU, SELU, SOFTPLUS,
  SOFTSIGN, SILU, HARD_SILU, GELU, MISH, EXPONENTIAL, SOFTMAX, LOG_SOFTMAX, LOG_SIGMOID,
  TANH_SHRINK, HARD_TANH, ACT_COUNT
};

constexpr double kSeluAlpha = 1.6732632423543772;
constexpr double kSeluScale = 1.0507009873554805;
constexpr double kSoftplusThreshold = 20.0;  // torch's softplus returns x above this

template <typename T>
inline T softplus(T z) {
  return z > T(kSoftplusThreshold) ? z : std::log1p(std::exp(z));
}

template <typename T>
inline T hard_sigmoid(T z) {
  return std::min(std::max(z / T(6) + T(0.5), T(0)), T(1));
}

template <typename T>
void act_forward(int64_t id, const T* __restrict z, T* __restrict y, int64_t n) {
  switch (id) {
    case LINEAR: for (int64_t j = 0; j < n; ++j) y[j] = z[j]; break;
    case TANH: for (int64_t j = 0; j < n; ++j) y[j] = tanh_approx(z[j]); break;
    case SIGMOID: for (int64_t j = 0; j < n; ++j) y[j] = sigmoid_approx(z[j]); break;
    case HARD_SIGMOID: for (int64_t j = 0; j < n; ++j) y[j] = hard_sigmoid(z[j]); break;
    case RELU: for (int64_t j = 0; j < n; ++j) y[j] = z[j] > T(0) ? z[j] : T(0); break;
    case RELU6: for (int64_t j = 0; j < n; ++j) y[j] = std::min(std::max(z[j], T(0)), T(6)); break;
    case LEAKY_RELU: for (int64_t j = 0; j < n; ++j) y[j] = z[j] > T(0) ? z[j] : T(0.2) * z[j]; break;
    case ELU: for (int64_t j = 0; j < n; ++j) y[j] = z[j] > T(0) ? z[j] : std::expm1(z[j]); break;
    case SELU:
      for (int64_t j = 0; j < n; ++j)
        y[j] = T(kSeluScale) * (z[j] > T(0) ? z[j] : T(kSeluAlpha) * std::expm1(z[j]));
      break;
    case SOFTPLUS: for (int64_t j = 0; j < n; ++j) y[j] = softplus(z[j]); break;
    case SOFTSIGN: for (int64_t j = 0; j < n; ++j) y[j] = z[j] / (T(1) + std::abs(z[j])); break;
    case SILU: for (int64_t j = 0; j < n; ++j) y[j] = z[j] / (T(1) + std::exp(-z[j])); break;
    case HARD_SILU: for (int64_t j = 0; j < n; ++j) y[j] = z[j] * hard_sigmoid(z[j]); break;
    case GELU:
      for (int64_t j = 0; j < n; ++j) y[j] = T(0.5) * z[j] * (T(1) + std::erf(z[j] * T(M_SQRT1_2)));
      break;
    case MISH: for (int64_t j = 0; j < n; ++j) y[j] = z[j] * std::tanh(softplus(z[j])); break;
    case EXPONENTIAL: for (int64_t j = 0; j < n; ++j) y[j] = std::exp(z[j]); break;
    case SOFTMAX:
    case LOG_SOFTMAX: {
      T m = z[0];
      for (int64_t j = 1; j < n; ++j) m = std::max(m, z[j]);
      T s = 0;
      for (int64_t j = 0; j < n; ++j) s += std::exp(z[j] - m);
      if (id == SOFTMAX) {
        for (int64_t j = 0; j < n; ++j) y[j] = std::exp(z[j] - m) / s;
      } else {
        const T log_s = std::log(s);
        for (int64_t j = 0; j < n; ++j) y[j] = z[j] - m - log_s;
      }
      break;
    }
    case LOG_SIGMOID:
      for (int64_t j = 0; j < n; ++j) y[j] = std::min(z[j], T(0)) - std::log1p(std::exp(-std::abs(z[j])));
      break;
    case TANH_SHRINK: for (int64_t j = 0; j < n; ++j) y[j] = z[j] - std::tanh(z[j]); break;
    case HARD_TANH: for (int64_t j = 0; j < n; ++j) y[j] = std::min(std::max(z[j], T(-1)), T(1)); break;
    default: TORCH_CHECK(false, "lstmkit fused kernel: unknown activation id ", id);
  }
}

// dz = dy * f'(z); z is the activation's input and y its output.
template <typename T>
void act_backward(int64_t id, const T* __restrict z, const T* __restrict y, const T* __restrict dy,
                  T* __restrict dz, int64_t n) {
  switch (id) {
    case LINEAR: for (int64_t j = 0; j < n; ++j) dz[j] = dy[j]; break;
    case TANH: for (int64_t j = 0; j < n; ++j) dz[j] = dy[j] * (T(1) - y[j] * y[j]); break;
    case SIGMOID: for (int64_t j = 0; j < n; ++j) dz[j] = dy[j] * y[j] * (T(1) - y[j]); break;
    case HARD_SIGMOID: {
      // torch.clamp passes the gradient on the closed interval [min, max]
      for (int64_t j = 0; j < n; ++j) {
        const T u = z[j] / T(6) + T(0.5);
        dz[j] = (u >= T(0) && u <= T(1)) ? dy[j] / T(6) : T(0);
      }
      break;
    }
    case RELU: for (int64_t j = 0; j < n; ++j) dz[j] = y[j] > T(0) ? dy[j] : T(0); break;
    case RELU6: for (int64_t j = 0; j < n; ++j) dz[j] = (z[j] >= T(0) && z[j] <= T(6)) ? dy[j] : T(0); break;
    case LEAKY_RELU: for (int64_t j = 0; j < n; ++j) dz[j] = z[j] > T(0) ? dy[j] : T(0.2) * dy[j]; break;
    case ELU: for (int64_t j = 0; j < n; ++j) dz[j] = z[j] > T(0) ? dy[j] : dy[j] * std::exp(z[j]); break;
    case SELU:
      for (int64_t j = 0; j < n; ++j)
        dz[j] = dy[j] * T(kSeluScale) * (z[j] > T(0) ? T(1) : T(kSeluAlpha) * std::exp(z[j]));
      break;
    case SOFTPLUS:
      for (int64_t j = 0; j < n; ++j)
        dz[j] = z[j] > T(kSoftplusThreshold) ? dy[j] : dy[j] / (T(1) + std::exp(-z[j]));
      break;
    case SOFTSIGN:
      for (int64_t j = 0; j < n; ++j) {
        const T d = T(1) + std::abs(z[j]);
        dz[j] = dy[j] / (d * d);
      }
      break;
    case SILU:
      for (int64_t j = 0; j < n; ++j) {
        const T s = T(1) / (T(1) + std::exp(-z[j]));
        dz[j] = dy[j] * s * (T(1) + z[j] * (T(1) - s));
      }
      break;
    case HARD_SILU:
      for (int64_t j = 0; j < n; ++j) {
        const T u = z[j] / T(6) + T(0.5);
        const T inner = (u >= T(0) && u <= T(1)) ? T(1) / T(6) : T(0);
        dz[j] = dy[j] * (hard_sigmoid(z[j]) + z[j] * inner);
      }
      break;
    case GELU:
      for (int64_t j = 0; j < n; ++j) {
        const T cdf = T(0.5) * (T(1) + std::erf(z[j] * T(M_SQRT1_2)));
        const T pdf = std::exp(T(-0.5) * z[j] * z[j]) * T(0.3989422804014327);
        dz[j] = dy[j] * (cdf + z[j] * pdf);
      }
      break;
    case MISH:
      for (int64_t j = 0; j < n; ++j) {
        const T t = std::tanh(softplus(z[j]));
        const T dsp = z[j] > T(kSoftplusThreshold) ? T(1) : T(1) / (T(1) + std::exp(-z[j]));
        dz[j] = dy[j] * (t + z[j] * (T(1) - t * t) * dsp);
      }
      break;
    case EXPONENTIAL: for (int64_t j = 0; j < n; ++j) dz[j] = dy[j] * y[j]; break;
    case SOFTMAX: {
      T dot = 0;
      for (int64_t j = 0; j < n; ++j) dot += dy[j] * y[j];
      for (int64_t j = 0; j < n; ++j) dz[j] = y[j] * (dy[j] - dot);
      break;
    }
    case LOG_SOFTMAX: {
      T sum = 0;
      for (int64_t j = 0; j < n; ++j) sum += dy[j];
      for (int64_t j = 0; j < n; ++j) dz[j] = dy[j] - std::exp(y[j]) * sum;
      break;
    }
    case LOG_SIGMOID:
      for (int64_t j = 0; j < n; ++j) dz[j] = dy[j] / (T(1) + std::exp(z[j]));
      break;
    case TANH_SHRINK:
      for (int64_t j = 0; j < n; ++j) {
        const T t = std::tanh(z[j]);
        dz[j] = dy[j] * t * t;
      }
      break;
    case HARD_TANH: for (int64_t j = 0; j < n; ++j) dz[j] = (z[j] >= T(-1) && z[j] <= T(1)) ? dy[j] : T(0); break;
    default: TORCH_CHECK(false, "lstmkit fused kernel: unknown activation id ", id);
  }
}

// ---------------------------------------------------------------------------------------------
// Shared pieces of the time loops.

// Row-major C (m x n) = beta C + A (m x k) op(B), where op(B) is B stored as (k x n) or, with
// b_transposed, the transpose of B stored as (n x k). Leading dimensions are row strides. Each
// step's product goes straight to BLAS: no tensor views, no dispatcher, at these small sizes a
// good part of the cost. (BLAS is column-major: C^T = op(B)^T A^T.)
template <typename T>
void gemm_rows(int64_t m, int64_t n, int64_t k, const T* A, int64_t lda, const T* Bm, int64_t ldb, bool b_transposed,
               T beta, T* C, int64_t ldc) {
  if (m == 0) return;
  const bool fits = std::max({m, n, k, lda, ldb, ldc}) < (int64_t(1) << 31);
  const int mi = int(m), ni = int(n), ki = int(k), la = int(lda), lb = int(ldb), lc = int(ldc);
  const char ta = 'N', tb = b_transposed ? 'T' : 'N';
  const T one = T(1);
  if constexpr (std::is_same_v<T, float>) {
    if (sgemm_ != nullptr && fits) {
      sgemm_(&tb, &ta, &ni, &mi, &ki, &one, Bm, &lb, A, &la, &beta, C, &lc);
      return;
    }
  } else {
    if (dgemm_ != nullptr && fits) {
      dgemm_(&tb, &ta, &ni, &mi, &ki, &one, Bm, &lb, A, &la, &beta, C, &lc);
      return;
    }
  }
  const auto opts = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
  const Tensor a = at::from_blob(const_cast<T*>(A), {m, k}, {lda, 1}, opts);
  const Tensor b = b_transposed ? at::from_blob(const_cast<T*>(Bm), {n, k}, {ldb, 1}, opts).t()
                                : at::from_blob(const_cast<T*>(Bm), {k, n}, {ldb, 1}, opts);
  Tensor c = at::from_blob(C, {m, n}, {ldc, 1}, opts);
  if (beta == T(0)) {
    at::mm_out(c, a, b);
  } else {
    c.mul_(beta).addmm_(a, b);
  }
}

// Splits the batch into one contiguous chunk of samples per thread and runs fn(b0, b1) on each.
// Samples are independent, so each chunk goes through the whole time loop on its own: the
// threads never wait for each other, and each step's matrix product runs single-threaded on the
// chunk's rows (cheaper than a two-thread product of the whole batch at these sizes). Small
// batches stay on one thread, where the fork would cost more than it saves.
template <typename F>
void for_batch_chunks(int64_t B, int64_t row_width, const F& fn) {
  if (B <= 0) return;  // an empty batch: nothing to run (and no chunk size to divide by)
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  const int64_t by_work = std::max<int64_t>(1, B * row_width / 4096);
  const int64_t chunks = std::min({threads, by_work, B});
  at::parallel_for(0, B, (B + chunks - 1) / chunks, [&](int64_t b0, int64_t b1) {
    // grad mode is per thread: the kernel's own tensor work is never recorded by autograd
    at::NoGradGuard no_grad;
    fn(b0, b1);
  });
}

template <typename T>
inline void copy_row(T* __restrict dst, const T* __restrict src, int64_t n) {
  for (int64_t j = 0; j < n; ++j) dst[j] = src[j];
}

template <typename T>
inline void zero_row(T* __restrict dst, int64_t n) {
  for (int64_t j = 0; j < n; ++j) dst[j] = T(0);
}

// h as it enters the recurrent product: h * rmask, or h.
template <typename T>
inline void masked_input_row(T* __restrict dst, const T* __restrict h, const T* rmask, int64_t n) {
  if (rmask == nullptr) {
    copy_row(dst, h, n);
  } else {
    for (int64_t j = 0; j < n; ++j) dst[j] = h[j] * rmask[j];
  }
}

// The first step's recurrent inputs, h0 * rmask, for samples b0..b1 (rows of (B, H) buffers).
template <typename T>
inline void masked_input_rows(T* hin, const T* h, const T* rmask, int64_t b0, int64_t b1, int64_t H) {
  for (int64_t b = b0; b < b1; ++b) masked_input_row(hin + b * H, h + b * H, rmask ? rmask + b * H : nullptr, H);
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

// Output of step t for a masked sample: the previous output, or zeros.
template <typename T>
inline void hold_output(const OutputRows<T>& out, int64_t t, int64_t b, bool zero_output) {
  T* dst = out.row(t, b);
  const T* prev = out.previous(t, b);
  if (zero_output || prev == nullptr) {
    zero_row(dst, out.H);
  } else if (prev != dst) {
    copy_row(dst, prev, out.H);
  }
}

// Gradient reaching step t's output: the loss's, plus what a later masked step passed back.
template <typename T>
inline void output_grad_row(T* __restrict g, const T* grad_out, int64_t t, int64_t T_, int64_t b, int64_t B,
                            int64_t H, bool sequences, const T* carry) {
  const T* src = nullptr;
  if (sequences) {
    src = grad_out + (t * B + b) * H;
  } else if (t == T_ - 1) {
    src = grad_out + b * H;
  }
  for (int64_t j = 0; j < H; ++j) g[j] = (src ? src[j] : T(0)) + carry[j];
}

// Backward at a masked step of sample b: the output there repeated the previous output (unless
// zero_output), so the gradient g reaching it passes on to that previous output.
template <typename T>
inline void carry_past_masked_step(T* carry_row, const T* g, bool zero_output, int64_t H) {
  if (zero_output) {
    zero_row(carry_row, H);
  } else {
    copy_row(carry_row, g, H);
  }
}

const bool* mask_ptr(const std::optional<Tensor>& mask) {
  return mask.has_value() && mask->defined() ? mask->data_ptr<bool>() : nullptr;
}

template <typename T>
const T* rmask_ptr(const std::optional<Tensor>& rmask) {
  return rmask.has_value() && rmask->defined() ? rmask->data_ptr<T>() : nullptr;
}

bool given(const std::optional<Tensor>& t) { return t.has_value() && t->defined(); }

// The masks against x (T, B, .) and U (H, G*H).
void check_masks(const Tensor& x, const Tensor& U, const std::optional<Tensor>& mask,
                 const std::optional<Tensor>& rmask) {
  if (given(mask)) {
    TORCH_CHECK(mask->scalar_type() == at::kBool && mask->is_contiguous() && mask->size(0) == x.size(0) &&
                    mask->size(1) == x.size(1),
                "lstmkit fused kernel: mask must be a contiguous bool (T, B) tensor");
  }
  if (given(rmask)) {
    TORCH_CHECK(rmask->is_contiguous() && rmask->size(0) == x.size(1) && rmask->size(1) == U.size(0) &&
                    rmask->scalar_type() == x.scalar_type(),
                "lstmkit fused kernel: recurrent mask must be a contiguous (B, H) tensor of x's dtype");
  }
}

void check_inputs(const Tensor& x, const Tensor& W, const std::optional<Tensor>& b, const Tensor& U, int64_t G,
                  const std::optional<Tensor>& mask, const std::optional<Tensor>& rmask) {
  TORCH_CHECK(x.dim() == 3, "lstmkit fused kernel: x must be (T, B, D), got ", x.sizes());
  TORCH_CHECK(U.dim() == 2 && U.size(1) == G * U.size(0), "lstmkit fused kernel: U must be (H, ", G,
              "*H), got ", U.sizes());
  TORCH_CHECK(W.dim() == 2 && W.size(0) == x.size(2) && W.size(1) == U.size(1),
              "lstmkit fused kernel: W ", W.sizes(), " does not match x ", x.sizes(), " and U ", U.sizes());
  TORCH_CHECK(x.scalar_type() == U.scalar_type() && W.scalar_type() == U.scalar_type(),
              "lstmkit fused kernel: x, W and U dtypes differ");
  if (given(b)) {
    TORCH_CHECK(b->dim() == 1 && b->size(0) == U.size(1), "lstmkit fused kernel: bias must be (G*H,)");
  }
  check_masks(x, U, mask, rmask);
}

// xw = x W + b for all T*B rows at once: (T, B, D) -> (T, B, G*H), a fresh tensor the time
// loop may overwrite.
Tensor project(const Tensor& x, const Tensor& W, const std::optional<Tensor>& b) {
  const int64_t T_ = x.size(0), B = x.size(1);
  const Tensor x2 = x.reshape({T_ * B, x.size(2)});
  const Tensor xw = given(b) ? at::addmm(*b, x2, W) : at::mm(x2, W);
  return xw.view({T_, B, W.size(1)});
}

// Gradients of the projection from dxw (T, B, G*H): [dx (T, B, D) or empty, dW, db or empty].
std::vector<Tensor> project_backward(const Tensor& dxw, const Tensor& x, const Tensor& W, bool has_bias,
                                     bool need_dx) {
  const int64_t T_ = dxw.size(0), B = dxw.size(1), GH = dxw.size(2);
  const Tensor d2 = dxw.reshape({T_ * B, GH});
  const Tensor x2 = x.contiguous().reshape({T_ * B, x.size(2)});
  Tensor dW = at::mm(x2.t(), d2);
  Tensor db = has_bias ? d2.sum(0) : at::empty({0}, dxw.options());
  Tensor dx = need_dx ? at::mm(d2, W.t()).view({T_, B, x.size(2)}) : at::empty({0}, dxw.options());
  return {dx, dW, db};
}

// ---------------------------------------------------------------------------------------------
// LSTM. Gate blocks i, f, c, o; c' = f c + i φ(z_c); h' = o φ(c'), with the options of
// lstmkit/cells/lstm.py, each an optional argument:
//   peep    (3, H)        peephole weights p_i, p_f, p_o: z_i += p_i c, z_f += p_f c, z_o += p_o c'
//   gx, gh  (4H,)         layer norm: z = LN(x W) gx + b + LN(hin U) gh (the input term of all
//                         steps is normalised before the loop)
//   gc, bc  (H,)          layer norm of the cell: h' = o φ(LN(c') gc + bc)
//   zone    (2, T, B, H)  zoneout draws for h and c (1: keep the previous value); absent with
//                         zoneout_p > 0, the expectation d = p is used
// The carried state after zoneout is h_new = d_h h + (1 - d_h) h', c_new = d_c c + (1 - d_c) c'.
//
// Saved for the backward: Z (T,B,4H) gate pre-activations, A (T,B,4H) their activations,
// CN (T,B,H) c' before zoneout and masking, PC (T,B,H) φ's output, HIN (T,B,H) h·rmask entering
// each step, CS (T+1,B,H) the carried cell state; with layer norm also NX (T,B,4H) the
// normalised input term, RX (T,B) its 1/std, NH (T,B,4H) the normalised recurrent term, RH (T,B)
// its 1/std, NC (T,B,H) the normalised cell, RC (T,B) its 1/std and CI (T,B,H) φ's input
// LN(c') gc + bc. (Empty tensors stand for the absent ones.)

// Normalises v (n values) in place to (v - mean) / sqrt(var + eps); returns 1 / sqrt(var + eps).
// The sums accumulate in double: a near-constant row divides by a tiny std, which magnifies
// their rounding.
template <typename T>
inline T normalise_row(T* __restrict v, int64_t n, double eps) {
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) sum += double(v[j]);
  const double mean = sum / double(n);
  double sq = 0;
#pragma omp simd reduction(+ : sq)
  for (int64_t j = 0; j < n; ++j) sq += (double(v[j]) - mean) * (double(v[j]) - mean);
  const double rstd = 1.0 / std::sqrt(sq / double(n) + eps);
  for (int64_t j = 0; j < n; ++j) v[j] = T((double(v[j]) - mean) * rstd);
  return T(rstd);
}

// Backward of y = gamma ⊙ normalise(v): from dy, the normalised values and 1/std,
// dv = rstd (dn - mean(dn) - normalised mean(dn normalised)) with dn = dy gamma.
template <typename T>
inline void normalise_row_backward(const T* __restrict dy, const T* __restrict gamma, const T* __restrict normalised,
                                   T rstd, T* __restrict dv, int64_t n) {
  double s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
  for (int64_t j = 0; j < n; ++j) {
    const double dn = double(dy[j]) * double(gamma[j]);
    s1 += dn;
    s2 += dn * double(normalised[j]);
  }
  const double m1 = s1 / double(n), m2 = s2 / double(n);
  for (int64_t j = 0; j < n; ++j) {
    dv[j] = T(double(rstd) * (double(dy[j]) * double(gamma[j]) - m1 - double(normalised[j]) * m2));
  }
}

// Sums per-row terms over R rows into `width` accumulators: add_row(r, acc) adds row r's terms
// to acc (and may write that row's own outputs). The rows are cut into one contiguous range per
// thread, whose partial sums are added in range order, so the result does not depend on timing;
// the accumulators are double, so float32 terms lose nothing to the long sums.
template <typename F>
std::vector<double> sum_rows(int64_t R, int64_t width, const F& add_row) {
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), R / 64));
  std::vector<std::vector<double>> acc(parts, std::vector<double>(width, 0.0));
  at::parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
    at::NoGradGuard no_grad;
    for (int64_t p = p0; p < p1; ++p) {
      for (int64_t r = R * p / parts; r < R * (p + 1) / parts; ++r) add_row(r, acc[p].data());
    }
  });
  for (int64_t p = 1; p < parts; ++p) {
    for (int64_t j = 0; j < width; ++j) acc[0][j] += acc[p][j];
  }
  return acc[0];
}

template <typename T>
inline void add_product(double* __restrict acc, const T* __restrict a, const T* __restrict b, int64_t n) {
  for (int64_t j = 0; j < n; ++j) acc[j] += double(a[j]) * double(b[j]);
}

template <typename T>
inline void add_values(double* __restrict acc, const T* __restrict a, int64_t n) {
  for (int64_t j = 0; j < n; ++j) acc[j] += double(a[j]);
}

// Zoneout draws of step t for sample b: rows of the (2, T, B, H) draws when given (training),
// else one row of p's (inference, the expectation), else off (p = 0).
template <typename T>
struct ZoneRows {
  const T* draws;              // (2, T, B, H), or nullptr
  std::vector<T> constant;     // H copies of p, or empty
  int64_t T_, B, H;
  ZoneRows(const T* draws_, double p, int64_t T__, int64_t B_, int64_t H_)
      : draws(draws_), constant(draws_ != nullptr || p == 0 ? 0 : H_, T(p)), T_(T__), B(B_), H(H_) {}
  bool on() const { return draws != nullptr || !constant.empty(); }
  const T* h(int64_t t, int64_t b) const { return draws ? draws + (t * B + b) * H : constant.data(); }
  const T* c(int64_t t, int64_t b) const { return draws ? draws + ((T_ + t) * B + b) * H : constant.data(); }
};

template <typename T>
const T* data_or_null(const Tensor& t) {
  return t.defined() && t.numel() > 0 ? t.data_ptr<T>() : nullptr;
}

Tensor contiguous_or_empty(const std::optional<Tensor>& t) { return given(t) ? t->contiguous() : Tensor(); }

void check_lstm_inputs(const Tensor& x, const Tensor& W, const std::optional<Tensor>& b, const Tensor& U,
                       const std::optional<Tensor>& mask, const std::optional<Tensor>& rmask,
                       const std::optional<Tensor>& peep, const std::optional<Tensor>& gx,
                       const std::optional<Tensor>& gh, const std::optional<Tensor>& gc,
                       const std::optional<Tensor>& bc, const std::optional<Tensor>& zone) {
  check_inputs(x, W, b, U, 4, mask, rmask);
  const int64_t H = U.size(0);
  auto check_vector = [&](const std::optional<Tensor>& t, int64_t rows, int64_t n, const char* what) {
    if (!given(t)) return;
    TORCH_CHECK(t->numel() == rows * n && t->scalar_type() == U.scalar_type(), "lstmkit fused kernel: ", what,
                " must have ", rows * n, " values of U's dtype, got ", t->sizes());
  };
  check_vector(peep, 3, H, "the peepholes");
  check_vector(gx, 4, H, "the input layer-norm gain");
  check_vector(gh, 4, H, "the recurrent layer-norm gain");
  check_vector(gc, 1, H, "the cell layer-norm gain");
  check_vector(bc, 1, H, "the cell layer-norm shift");
  TORCH_CHECK(given(gx) == given(gh) && given(gh) == given(gc) && given(gc) == given(bc),
              "lstmkit fused kernel: layer norm needs gx, gh, gc and bc");
  if (given(zone)) {
    TORCH_CHECK(zone->dim() == 4 && zone->size(0) == 2 && zone->size(1) == x.size(0) && zone->size(2) == x.size(1) &&
                    zone->size(3) == H && zone->scalar_type() == U.scalar_type(),
                "lstmkit fused kernel: zoneout draws must be (2, T, B, H), got ", zone->sizes());
  }
}

std::vector<Tensor> lstm_forward(const Tensor& x_in, const Tensor& W, const std::optional<Tensor>& b, const Tensor& U,
                                 const Tensor& h0, const Tensor& c0, const std::optional<Tensor>& mask,
                                 const std::optional<Tensor>& rmask, const std::optional<Tensor>& peep,
                                 const std::optional<Tensor>& gx, const std::optional<Tensor>& gh,
                                 const std::optional<Tensor>& gc, const std::optional<Tensor>& bc,
                                 const std::optional<Tensor>& zone, double zoneout_p, double eps, int64_t act,
                                 int64_t ract, bool zero_output, bool return_sequences, bool save) {
  check_lstm_inputs(x_in, W, b, U, mask, rmask, peep, gx, gh, gc, bc, zone);
  const Tensor x = x_in.contiguous();
  const int64_t T_ = x.size(0), B = x.size(1), H = U.size(0), G4 = 4 * H;
  const int64_t S = save ? T_ : 1;  // time slots kept for the backward
  const bool ln = given(gh);
  const auto opts = x.options();
  const Tensor none = at::empty({0}, opts);
  // becomes the gate pre-activations, step by step; with layer norm the bias comes after it
  Tensor Z = project(x, W, ln ? std::nullopt : b);
  Tensor A = at::empty({S, B, G4}, opts);
  Tensor CN = at::empty({S, B, H}, opts);
  Tensor PC = at::empty({S, B, H}, opts);
  Tensor HIN = at::empty({S, B, H}, opts);
  Tensor CS = at::empty({save ? T_ + 1 : 2, B, H}, opts);
  Tensor HS = at::empty({2, B, H}, opts);  // carried h: slot t % 2
  Tensor NX = ln && save ? at::empty({T_, B, G4}, opts) : none;
  Tensor RX = ln && save ? at::empty({T_, B}, opts) : none;
  Tensor NH = ln ? at::empty({S, B, G4}, opts) : none;
  Tensor RH = ln ? at::empty({S, B}, opts) : none;
  Tensor NC = ln ? at::empty({S, B, H}, opts) : none;
  Tensor RC = ln ? at::empty({S, B}, opts) : none;
  Tensor CI = ln ? at::empty({S, B, H}, opts) : none;
  Tensor out = return_sequences ? at::empty({T_, B, H}, opts) : at::zeros({B, H}, opts);
  const Tensor Uc = U.contiguous();
  const Tensor peep_c = contiguous_or_empty(peep), gx_c = contiguous_or_empty(gx), gh_c = contiguous_or_empty(gh),
               gc_c = contiguous_or_empty(gc), bc_c = contiguous_or_empty(bc), zone_c = contiguous_or_empty(zone),
               b_c = contiguous_or_empty(b);

  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstmkit_lstm_forward", [&] {
    using T = scalar_t;
    if (ln) {
      // the input term of every step at once: z = LN(x W) gx + b
      const T* gxp = gx_c.data_ptr<T>();
      const T* bp = data_or_null<T>(b_c);
      at::parallel_for(0, T_ * B, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          T* zr = Z.data_ptr<T>() + r * G4;
          T* nx = save ? NX.data_ptr<T>() + r * G4 : zr;  // kept for the backward, or in place
          if (save) copy_row(nx, zr, G4);
          const T rstd = normalise_row(nx, G4, eps);
          if (save) RX.data_ptr<T>()[r] = rstd;
          for (int64_t j = 0; j < G4; ++j) zr[j] = gxp[j] * nx[j] + (bp ? bp[j] : T(0));
        }
      });
    }
    const bool* m = mask_ptr(mask);
    const T* rm = rmask_ptr<T>(rmask);
    const T* pp = data_or_null<T>(peep_c);  // p_i, p_f, p_o, H each
    const T* ghp = data_or_null<T>(gh_c);
    const T* gcp = data_or_null<T>(gc_c);
    const T* bcp = data_or_null<T>(bc_c);
    const ZoneRows<T> zr(data_or_null<T>(zone_c), zoneout_p, T_, B, H);
    T* cs = CS.data_ptr<T>();
    T* hs = HS.data_ptr<T>();
    std::memcpy(cs, c0.contiguous().data_ptr<T>(), sizeof(T) * B * H);
    std::memcpy(hs, h0.contiguous().data_ptr<T>(), sizeof(T) * B * H);
    OutputRows<T> outs{out.data_ptr<T>(), B, H, return_sequences};
    for_batch_chunks(B, G4, [&](int64_t b0, int64_t b1) {
    const int64_t nb = b1 - b0;
    masked_input_rows(HIN.data_ptr<T>(), hs, rm, b0, b1, H);
    for (int64_t t = 0; t < T_; ++t) {
      const int64_t s = save ? t : 0;
      T* z = Z.data_ptr<T>() + t * B * G4;
      const T* hin_rows = HIN.data_ptr<T>() + (s * B + b0) * H;
      if (ln) {
        // nh[b0:b1] = hin[b0:b1] U, normalised row by row; z += gh nh
        T* nh = NH.data_ptr<T>() + s * B * G4;
        T* rh = RH.data_ptr<T>() + s * B;
        gemm_rows<T>(nb, G4, H, hin_rows, H, Uc.data_ptr<T>(), G4, false, T(0), nh + b0 * G4, G4);
        for (int64_t b = b0; b < b1; ++b) {
          T* nhb = nh + b * G4;
          T* zb = z + b * G4;
          rh[b] = normalise_row(nhb, G4, eps);
          for (int64_t j = 0; j < G4; ++j) zb[j] += ghp[j] * nhb[j];
        }
      } else {
        // z[b0:b1] += hin[b0:b1] U
        gemm_rows<T>(nb, G4, H, hin_rows, H, Uc.data_ptr<T>(), G4, false, T(1), z + b0 * G4, G4);
      }
      T* a = A.data_ptr<T>() + s * B * G4;
      T* cn = CN.data_ptr<T>() + s * B * H;
      T* pc = PC.data_ptr<T>() + s * B * H;
      T* nc = ln ? NC.data_ptr<T>() + s * B * H : nullptr;
      T* rc = ln ? RC.data_ptr<T>() + s * B : nullptr;
      T* ci = ln ? CI.data_ptr<T>() + s * B * H : nullptr;
      const T* c_prev = cs + (save ? t : t % 2) * B * H;
      T* c_next = cs + (save ? t + 1 : (t + 1) % 2) * B * H;
      const T* h_prev = hs + (t % 2) * B * H;
      T* h_next = hs + ((t + 1) % 2) * B * H;
      T* hin_next = (t + 1 < T_) ? HIN.data_ptr<T>() + (save ? t + 1 : 0) * B * H : nullptr;
      for (int64_t b = b0; b < b1; ++b) {
        T* zb = z + b * G4;
        T* ab = a + b * G4;
        const T* cp = c_prev + b * H;
        T* cnb = cn + b * H;
        T* pcb = pc + b * H;
        if (pp) {
          for (int64_t j = 0; j < H; ++j) {
            zb[j] += pp[j] * cp[j];
            zb[H + j] += pp[H + j] * cp[j];
          }
        }
        act_forward(ract, zb, ab, H);
        act_forward(ract, zb + H, ab + H, H);
        act_forward(act, zb + 2 * H, ab + 2 * H, H);
        for (int64_t j = 0; j < H; ++j) cnb[j] = ab[H + j] * cp[j] + ab[j] * ab[2 * H + j];
        if (pp) {
          for (int64_t j = 0; j < H; ++j) zb[3 * H + j] += pp[2 * H + j] * cnb[j];
        }
        act_forward(ract, zb + 3 * H, ab + 3 * H, H);
        if (ln) {
          T* ncb = nc + b * H;
          T* cib = ci + b * H;
          copy_row(ncb, cnb, H);
          rc[b] = normalise_row(ncb, H, eps);
          for (int64_t j = 0; j < H; ++j) cib[j] = gcp[j] * ncb[j] + bcp[j];
          act_forward(act, cib, pcb, H);
        } else {
          act_forward(act, cnb, pcb, H);
        }
        const bool keep = m == nullptr || m[t * B + b];
        T* hn = h_next + b * H;
        if (keep) {
          const T* o = ab + 3 * H;
          T* cnext = c_next + b * H;
          if (zr.on()) {
            const T* dh = zr.h(t, b);
            const T* dc = zr.c(t, b);
            const T* hp = h_prev + b * H;
            for (int64_t j = 0; j < H; ++j) {
              hn[j] = dh[j] * hp[j] + (T(1) - dh[j]) * o[j] * pcb[j];
              cnext[j] = dc[j] * cp[j] + (T(1) - dc[j]) * cnb[j];
            }
          } else {
            for (int64_t j = 0; j < H; ++j) hn[j] = o[j] * pcb[j];
            copy_row(cnext, cnb, H);
          }
          copy_row(outs.row(t, b), hn, H);
        } else {
          copy_row(hn, h_prev + b * H, H);
          copy_row(c_next + b * H, cp, H);
          hold_output(outs, t, b, zero_output);
        }
        if (hin_next) masked_input_row(hin_next + b * H, hn, rm ? rm + b * H : nullptr, H);
      }
    }
    });
  });
  Tensor hT = HS[T_ % 2].clone();
  Tensor cT = CS[save ? T_ : T_ % 2].clone();
  if (!save) return {out, hT, cT};
  return {out, hT, cT, Z, A, CN, PC, HIN, CS, NX, RX, NH, RH, NC, RC, CI};
}

// Returns [dx, dW, db, dU, dh0, dc0, dpeep, dgx, dgh, dgc, dbc]; empty tensors for what was
// not asked or does not exist.
std::vector<Tensor> lstm_backward(const Tensor& grad_out_in, const Tensor& grad_h, const Tensor& grad_c,
                                  const Tensor& x, const Tensor& W, const Tensor& U,
                                  const std::optional<Tensor>& mask, const std::optional<Tensor>& rmask,
                                  const std::optional<Tensor>& peep, const std::optional<Tensor>& gx,
                                  const std::optional<Tensor>& gh, const std::optional<Tensor>& gc,
                                  const std::optional<Tensor>& zone, double zoneout_p, const Tensor& Z,
                                  const Tensor& A, const Tensor& CN, const Tensor& PC, const Tensor& HIN,
                                  const Tensor& CS, const Tensor& NX, const Tensor& RX, const Tensor& NH,
                                  const Tensor& RH, const Tensor& NC, const Tensor& RC, const Tensor& CI,
                                  int64_t act, int64_t ract, bool zero_output, bool return_sequences,
                                  bool has_bias, bool need_dx) {
  const int64_t T_ = Z.size(0), B = Z.size(1), H = U.size(0), G4 = 4 * H;
  const bool ln = given(gh);
  const Tensor grad_out = grad_out_in.contiguous();
  const auto opts = Z.options();
  const Tensor none = at::empty({0}, opts);
  Tensor DZ = at::empty({T_, B, G4}, opts);           // gradient of the gate pre-activations
  Tensor DR = ln ? at::empty({T_, B, G4}, opts) : DZ;  // ... of hin U, before its layer norm
  Tensor DCI = ln ? at::empty({T_, B, H}, opts) : none;  // ... of φ's input LN(c') gc + bc
  Tensor dh = grad_h.contiguous().clone();
  Tensor dc = grad_c.contiguous().clone();
  Tensor carry = at::zeros({B, H}, opts);
  Tensor back = at::empty({B, H}, opts);  // DR[t] U^T
  const Tensor Uc = U.contiguous();
  const Tensor peep_c = contiguous_or_empty(peep), gh_c = contiguous_or_empty(gh), gc_c = contiguous_or_empty(gc),
               zone_c = contiguous_or_empty(zone);
  std::vector<uint8_t> kept(B);

  AT_DISPATCH_FLOATING_TYPES(Z.scalar_type(), "lstmkit_lstm_backward", [&] {
    using T = scalar_t;
    const bool* m = mask_ptr(mask);
    const T* rm = rmask_ptr<T>(rmask);
    const T* pp = data_or_null<T>(peep_c);
    const T* ghp = data_or_null<T>(gh_c);
    const T* gcp = data_or_null<T>(gc_c);
    const ZoneRows<T> zr(data_or_null<T>(zone_c), zoneout_p, T_, B, H);
    const T* go = grad_out.data_ptr<T>();
    T* dhp = dh.data_ptr<T>();
    T* dcp = dc.data_ptr<T>();
    T* cr = carry.data_ptr<T>();
    for_batch_chunks(B, G4, [&](int64_t b0, int64_t b1) {
    const int64_t nb = b1 - b0;
    std::vector<T> buf(4 * H);
    for (int64_t t = T_ - 1; t >= 0; --t) {
      const T* z = Z.data_ptr<T>() + t * B * G4;
      const T* a = A.data_ptr<T>() + t * B * G4;
      const T* cn = CN.data_ptr<T>() + t * B * H;
      const T* pc = PC.data_ptr<T>() + t * B * H;
      const T* cprev = CS.data_ptr<T>() + t * B * H;
      T* dz = DZ.data_ptr<T>() + t * B * G4;
      T* dr = DR.data_ptr<T>() + t * B * G4;
      const T* nh = ln ? NH.data_ptr<T>() + t * B * G4 : nullptr;
      const T* rh = ln ? RH.data_ptr<T>() + t * B : nullptr;
      const T* nc = ln ? NC.data_ptr<T>() + t * B * H : nullptr;
      const T* rc = ln ? RC.data_ptr<T>() + t * B : nullptr;
      const T* ci = ln ? CI.data_ptr<T>() + t * B * H : nullptr;
      T* dci = ln ? DCI.data_ptr<T>() + t * B * H : nullptr;
      T* g = buf.data();
      T* dpc = g + H;
      T* dcn = g + 2 * H;
      T* dgate = g + 3 * H;
      for (int64_t b = b0; b < b1; ++b) {
        const bool keep = m == nullptr || m[t * B + b];
        kept[b] = keep;
        output_grad_row(g, go, t, T_, b, B, H, return_sequences, cr + b * H);
        T* dzb = dz + b * G4;
        if (!keep) {
          zero_row(dzb, G4);
          if (ln) {
            zero_row(dr + b * G4, G4);
            zero_row(dci + b * H, H);
          }
          carry_past_masked_step(cr + b * H, g, zero_output, H);
          continue;  // dh and dc pass through unchanged
        }
        zero_row(cr + b * H, H);
        const T* zb = z + b * G4;
        const T* ab = a + b * G4;
        const T* pcb = pc + b * H;
        const T* cp = cprev + b * H;
        T* dhb = dhp + b * H;
        T* dcb = dcp + b * H;  // gradient of the carried c; becomes that of c_{t-1}
        const T* zh = zr.on() ? zr.h(t, b) : nullptr;
        const T* zc = zr.on() ? zr.c(t, b) : nullptr;
        for (int64_t j = 0; j < H; ++j) g[j] += dhb[j];  // total gradient of the carried h
        if (zh) {
          // h_new = d h + (1 - d) h': d g goes straight to h_{t-1}, (1 - d) g to h'
          for (int64_t j = 0; j < H; ++j) {
            dhb[j] = zh[j] * g[j];
            g[j] *= T(1) - zh[j];
          }
        } else {
          zero_row(dhb, H);  // h_{t-1}'s gradient is added after the recurrent product
        }
        for (int64_t j = 0; j < H; ++j) dpc[j] = g[j] * ab[3 * H + j];  // through h' = o φ(.)
        if (ln) {
          act_backward(act, ci + b * H, pcb, dpc, dci + b * H, H);
          normalise_row_backward(dci + b * H, gcp, nc + b * H, rc[b], dcn, H);
        } else {
          act_backward(act, cn + b * H, pcb, dpc, dcn, H);
        }
        if (zc) {
          for (int64_t j = 0; j < H; ++j) dcn[j] += (T(1) - zc[j]) * dcb[j];
        } else {
          for (int64_t j = 0; j < H; ++j) dcn[j] += dcb[j];
        }
        for (int64_t j = 0; j < H; ++j) dgate[j] = g[j] * pcb[j];  // d o
        act_backward(ract, zb + 3 * H, ab + 3 * H, dgate, dzb + 3 * H, H);
        if (pp) {
          for (int64_t j = 0; j < H; ++j) dcn[j] += dzb[3 * H + j] * pp[2 * H + j];  // o peeps at c'
        }
        // dcn is now the total gradient of c'; the gates it came from
        for (int64_t j = 0; j < H; ++j) dgate[j] = dcn[j] * ab[2 * H + j];  // d i
        act_backward(ract, zb, ab, dgate, dzb, H);
        for (int64_t j = 0; j < H; ++j) dgate[j] = dcn[j] * cp[j];  // d f
        act_backward(ract, zb + H, ab + H, dgate, dzb + H, H);
        for (int64_t j = 0; j < H; ++j) dgate[j] = dcn[j] * ab[j];  // d g
        act_backward(act, zb + 2 * H, ab + 2 * H, dgate, dzb + 2 * H, H);
        // to c_{t-1}: through f, through zoneout's direct path, through the i and f peepholes
        for (int64_t j = 0; j < H; ++j) {
          T v = dcn[j] * ab[H + j];
          if (zc) v += zc[j] * dcb[j];
          if (pp) v += dzb[j] * pp[j] + dzb[H + j] * pp[H + j];
          dcb[j] = v;
        }
        if (ln) normalise_row_backward(dzb, ghp, nh + b * G4, rh[b], dr + b * G4, G4);
      }
      // back[b0:b1] = dr[b0:b1] U^T
      gemm_rows<T>(nb, H, G4, dr + b0 * G4, G4, Uc.data_ptr<T>(), G4, true, T(0), back.data_ptr<T>() + b0 * H, H);
      const T* bk = back.data_ptr<T>();
      for (int64_t b = b0; b < b1; ++b) {
        if (!kept[b]) continue;  // a masked sample's rows are zero: its dh passed through
        T* dhb = dhp + b * H;
        const T* bb = bk + b * H;
        const T* r = rm ? rm + b * H : nullptr;
        for (int64_t j = 0; j < H; ++j) dhb[j] += r ? bb[j] * r[j] : bb[j];
      }
    }
    });
  });
  Tensor dU = at::mm(HIN.reshape({T_ * B, H}).t(), DR.reshape({T_ * B, G4}));
  Tensor dxw = DZ;  // gradient of x W (+ b)
  Tensor db = none, dpeep = none, dgx = none, dgh = none, dgc = none, dbc = none;
  if (ln || given(peep)) {
    // One pass over every row of every step: the gradients of the bias (with layer norm, where
    // it comes after the normalisation), the gains and shift, and the peepholes; and with layer
    // norm the gradient of x W through its normalisation. Accumulator layout, in units of H:
    // b [0, 4), gx [4, 8), gh [8, 12), peepholes [12, 15), gc [15, 16), bc [16, 17).
    if (ln) dxw = at::empty({T_, B, G4}, opts);
    const Tensor gx_c = contiguous_or_empty(gx), peep_c = contiguous_or_empty(peep);
    AT_DISPATCH_FLOATING_TYPES(Z.scalar_type(), "lstmkit_lstm_weight_sums", [&] {
      using T = scalar_t;
      const T* dz_all = DZ.data_ptr<T>();
      const std::vector<double> sums = sum_rows(T_ * B, 17 * H, [&](int64_t r, double* acc) {
        const T* dz = dz_all + r * G4;
        if (ln) {
          const T* nx = NX.data_ptr<T>() + r * G4;
          const T* dci = DCI.data_ptr<T>() + r * H;
          if (has_bias) add_values(acc, dz, G4);
          add_product(acc + 4 * H, dz, nx, G4);
          add_product(acc + 8 * H, dz, NH.data_ptr<T>() + r * G4, G4);
          add_product(acc + 15 * H, dci, NC.data_ptr<T>() + r * H, H);
          add_values(acc + 16 * H, dci, H);
          normalise_row_backward(dz, gx_c.data_ptr<T>(), nx, RX.data_ptr<T>()[r], dxw.data_ptr<T>() + r * G4, G4);
        }
        if (peep_c.defined()) {
          const T* c_before = CS.data_ptr<T>() + r * H;  // row r = t B + b of CS[t]
          add_product(acc + 12 * H, dz, c_before, H);
          add_product(acc + 13 * H, dz + H, c_before, H);
          add_product(acc + 14 * H, dz + 3 * H, CN.data_ptr<T>() + r * H, H);
        }
      });
      auto part = [&](int64_t from, int64_t n) {
        return at::tensor(std::vector<double>(sums.begin() + from * H, sums.begin() + (from + n) * H),
                          at::TensorOptions().dtype(at::kDouble))
            .to(Z.scalar_type());
      };
      if (ln) {
        if (has_bias) db = part(0, 4);
        dgx = part(4, 4);
        dgh = part(8, 4);
        dgc = part(15, 1);
        dbc = part(16, 1);
      }
      if (peep_c.defined()) dpeep = part(12, 3).view({3, H});
    });
  }
  std::vector<Tensor> proj = project_backward(dxw, x, W, has_bias && !ln, need_dx);
  if (!ln) db = proj[2];
  return {proj[0], proj[1], db, dU, dh, dc, dpeep, dgx, dgh, dgc, dbc};
}

// ---------------------------------------------------------------------------------------------
// GRU. Blocks z, r, h (candidate). With reset_after: hu = h U + b_r and
// g = φ(x_h + r hu_h); without: g = φ(x_h + (r h) U_h). h' = z h + (1 - z) g.
//
// Saved: PRE (T,B,3H) pre-activations, A (T,B,3H) activations, HU (T,B,3H) the recurrent term
// (reset_after) , RH (T,B,H) r·hin (not reset_after), HIN (T,B,H), HS (T+1,B,H).

std::vector<Tensor> gru_forward(const Tensor& x_in, const Tensor& W, const std::optional<Tensor>& b,
                                const Tensor& U, const std::optional<Tensor>& b_r,
                                const Tensor& h0, const std::optional<Tensor>& mask,
                                const std::optional<Tensor>& rmask, int64_t act, int64_t ract, bool reset_after,
                                bool zero_output, bool return_sequences, bool save) {
  check_inputs(x_in, W, b, U, 3, mask, rmask);
  const Tensor x_c = x_in.contiguous();
  const Tensor xw = project(x_c, W, b);  // (T, B, 3H)
  const int64_t T_ = xw.size(0), B = xw.size(1), H = U.size(0), G3 = 3 * H;
  const int64_t S = save ? T_ : 1;
  const auto opts = xw.options();
  Tensor PRE = at::empty({S, B, G3}, opts);
  Tensor A = at::empty({S, B, G3}, opts);
  Tensor HU = at::empty({S, B, G3}, opts);
  Tensor RH = at::empty({reset_after ? 1 : S, B, H}, opts);
  Tensor HIN = at::empty({S, B, H}, opts);
  Tensor HS = at::empty({save ? T_ + 1 : 2, B, H}, opts);
  Tensor out = return_sequences ? at::empty({T_, B, H}, opts) : at::zeros({B, H}, opts);
  const Tensor Uc = U.contiguous();
  Tensor hu_zr = reset_after ? Tensor() : at::empty({B, 2 * H}, opts);
  Tensor hu_h = reset_after ? Tensor() : at::empty({B, H}, opts);
  const bool has_br = given(b_r);
  const Tensor br_c = has_br ? b_r->contiguous() : Tensor();

  AT_DISPATCH_FLOATING_TYPES(xw.scalar_type(), "lstmkit_gru_forward", [&] {
    using T = scalar_t;
    const bool* m = mask_ptr(mask);
    const T* rm = rmask_ptr<T>(rmask);
    T* hs = HS.data_ptr<T>();
    std::memcpy(hs, h0.contiguous().data_ptr<T>(), sizeof(T) * B * H);
    OutputRows<T> outs{out.data_ptr<T>(), B, H, return_sequences};
    for_batch_chunks(B, G3, [&](int64_t b0, int64_t b1) {
    const int64_t nb = b1 - b0;
    masked_input_rows(HIN.data_ptr<T>(), hs, rm, b0, b1, H);
    for (int64_t t = 0; t < T_; ++t) {
      const int64_t s = save ? t : 0;
      const T* x = xw.data_ptr<T>() + t * B * G3;
      T* pre = PRE.data_ptr<T>() + s * B * G3;
      T* a = A.data_ptr<T>() + s * B * G3;
      T* hu = HU.data_ptr<T>() + s * B * G3;
      const T* h_prev = hs + (save ? t : t % 2) * B * H;
      T* h_next = hs + (save ? t + 1 : (t + 1) % 2) * B * H;
      const T* hin = HIN.data_ptr<T>() + s * B * H;
      T* hin_next = (t + 1 < T_) ? HIN.data_ptr<T>() + (save ? t + 1 : 0) * B * H : nullptr;
      const T* hin_rows = hin + b0 * H;
      const T* u = Uc.data_ptr<T>();
      if (reset_after) {
        // hu[b0:b1] = b_r + hin[b0:b1] U
        if (has_br) {
          const T* br = br_c.data_ptr<T>();
          for (int64_t b = b0; b < b1; ++b) copy_row(hu + b * G3, br, G3);
        }
        gemm_rows<T>(nb, G3, H, hin_rows, H, u, G3, false, has_br ? T(1) : T(0), hu + b0 * G3, G3);
      } else {
        // hu_zr[b0:b1] = hin[b0:b1] U[:, :2H]
        gemm_rows<T>(nb, 2 * H, H, hin_rows, H, u, G3, false, T(0), hu_zr.data_ptr<T>() + b0 * 2 * H, 2 * H);
      }
      // z and r (and, with reset_after, the candidate too)
      const T* hzr = reset_after ? nullptr : hu_zr.data_ptr<T>();
      T* rh = reset_after ? nullptr : RH.data_ptr<T>() + s * B * H;
      {
        for (int64_t b = b0; b < b1; ++b) {
          const T* xb = x + b * G3;
          T* preb = pre + b * G3;
          T* ab = a + b * G3;
          T* hub = hu + b * G3;
          if (!reset_after) {
            copy_row(hub, hzr + b * 2 * H, 2 * H);
          }
          for (int64_t j = 0; j < 2 * H; ++j) preb[j] = xb[j] + hub[j];
          act_forward(ract, preb, ab, H);
          act_forward(ract, preb + H, ab + H, H);
          if (reset_after) {
            for (int64_t j = 0; j < H; ++j) preb[2 * H + j] = xb[2 * H + j] + ab[H + j] * hub[2 * H + j];
            act_forward(act, preb + 2 * H, ab + 2 * H, H);
          } else {
            const T* hinb = hin + b * H;
            for (int64_t j = 0; j < H; ++j) rh[b * H + j] = ab[H + j] * hinb[j];
          }
        }
      }
      if (!reset_after) {
        // hu_h[b0:b1] = (r hin)[b0:b1] U[:, 2H:]
        gemm_rows<T>(nb, H, H, rh + b0 * H, H, u + 2 * H, G3, false, T(0), hu_h.data_ptr<T>() + b0 * H, H);
        const T* hh = hu_h.data_ptr<T>();
        for (int64_t b = b0; b < b1; ++b) {
          T* preb = pre + b * G3;
          T* hub = hu + b * G3;
          const T* xb = x + b * G3;
          for (int64_t j = 0; j < H; ++j) {
            hub[2 * H + j] = hh[b * H + j];
            preb[2 * H + j] = xb[2 * H + j] + hh[b * H + j];
          }
          act_forward(act, preb + 2 * H, a + b * G3 + 2 * H, H);
        }
      }
      {
        for (int64_t b = b0; b < b1; ++b) {
          const T* ab = a + b * G3;
          const T* hp = h_prev + b * H;
          T* hn = h_next + b * H;
          const bool keep = m == nullptr || m[t * B + b];
          if (keep) {
            for (int64_t j = 0; j < H; ++j) hn[j] = ab[j] * hp[j] + (T(1) - ab[j]) * ab[2 * H + j];
            copy_row(outs.row(t, b), hn, H);
          } else {
            copy_row(hn, hp, H);
            hold_output(outs, t, b, zero_output);
          }
          if (hin_next) masked_input_row(hin_next + b * H, hn, rm ? rm + b * H : nullptr, H);
        }
      }
    }
    });
  });
  Tensor hT = HS[save ? T_ : T_ % 2].clone();
  if (!save) return {out, hT};
  return {out, hT, PRE, A, HU, RH, HIN, HS};
}

std::vector<Tensor> gru_backward(const Tensor& grad_out_in, const Tensor& grad_h, const Tensor& x,
                                 const Tensor& W, const Tensor& U,
                                 const std::optional<Tensor>& mask, const std::optional<Tensor>& rmask,
                                 const Tensor& PRE, const Tensor& A, const Tensor& HU, const Tensor& RH,
                                 const Tensor& HIN, const Tensor& HS, int64_t act, int64_t ract, bool reset_after,
                                 bool zero_output, bool return_sequences, bool has_bias, bool need_dx) {
  const int64_t T_ = PRE.size(0), B = PRE.size(1), H = U.size(0), G3 = 3 * H;
  const Tensor grad_out = grad_out_in.contiguous();
  const auto opts = PRE.options();
  Tensor DX = at::empty({T_, B, G3}, opts);   // gradient of xw
  Tensor DHU = reset_after ? at::empty({T_, B, G3}, opts) : Tensor();  // gradient of h U + b_r
  Tensor dh = grad_h.contiguous().clone();
  Tensor carry = at::zeros({B, H}, opts);
  Tensor back = at::empty({B, H}, opts);
  Tensor drh = at::empty({B, H}, opts);
  const Tensor Uc = U.contiguous();
  Tensor dzr = reset_after ? Tensor() : at::empty({T_, B, 2 * H}, opts);
  Tensor dhh = reset_after ? Tensor() : at::empty({T_, B, H}, opts);
  std::vector<uint8_t> kept(B);

  AT_DISPATCH_FLOATING_TYPES(PRE.scalar_type(), "lstmkit_gru_backward", [&] {
    using T = scalar_t;
    const bool* m = mask_ptr(mask);
    const T* rm = rmask_ptr<T>(rmask);
    const T* go = grad_out.data_ptr<T>();
    T* dhp = dh.data_ptr<T>();
    T* cr = carry.data_ptr<T>();
    for_batch_chunks(B, G3, [&](int64_t b0, int64_t b1) {
    const int64_t nb = b1 - b0;
    std::vector<T> buf(3 * H);
    std::vector<T> dr(H);
    for (int64_t t = T_ - 1; t >= 0; --t) {
      const T* pre = PRE.data_ptr<T>() + t * B * G3;
      const T* a = A.data_ptr<T>() + t * B * G3;
      const T* hu = HU.data_ptr<T>() + t * B * G3;
      const T* hprev = HS.data_ptr<T>() + t * B * H;
      const T* hin = HIN.data_ptr<T>() + t * B * H;
      T* dx = DX.data_ptr<T>() + t * B * G3;
      T* dhu = reset_after ? DHU.data_ptr<T>() + t * B * G3 : nullptr;
      // pass 1: everything up to the candidate's pre-activation
      {
        T* g = buf.data();
        T* dga = g + H;
        T* dza = g + 2 * H;
        for (int64_t b = b0; b < b1; ++b) {
          const bool keep = m == nullptr || m[t * B + b];
          kept[b] = keep;
          output_grad_row(g, go, t, T_, b, B, H, return_sequences, cr + b * H);
          T* dxb = dx + b * G3;
          if (!keep) {
            zero_row(dxb, G3);
            if (reset_after) zero_row(dhu + b * G3, G3);
            carry_past_masked_step(cr + b * H, g, zero_output, H);
            continue;
          }
          zero_row(cr + b * H, H);
          const T* ab = a + b * G3;
          const T* preb = pre + b * G3;
          const T* hp = hprev + b * H;
          T* dhb = dhp + b * H;
          for (int64_t j = 0; j < H; ++j) {
            const T gh = g[j] + dhb[j];
            dza[j] = gh * (hp[j] - ab[2 * H + j]);
            dga[j] = gh * (T(1) - ab[j]);
            dhb[j] = gh * ab[j];  // the direct path h -> z h
          }
          act_backward(ract, preb, ab, dza, dxb, H);                       // d pre_z
          act_backward(act, preb + 2 * H, ab + 2 * H, dga, dxb + 2 * H, H);  // d pre_g
          if (reset_after) {
            const T* hub = hu + b * G3;
            for (int64_t j = 0; j < H; ++j) dga[j] = dxb[2 * H + j] * hub[2 * H + j];  // d r
            act_backward(ract, preb + H, ab + H, dga, dxb + H, H);
            T* dhub = dhu + b * G3;
            for (int64_t j = 0; j < 2 * H; ++j) dhub[j] = dxb[j];
            for (int64_t j = 0; j < H; ++j) dhub[2 * H + j] = dxb[2 * H + j] * ab[H + j];
          }
        }
      }
      const T* u = Uc.data_ptr<T>();
      T* back_rows = back.data_ptr<T>() + b0 * H;
      if (reset_after) {
        gemm_rows<T>(nb, H, G3, dhu + b0 * G3, G3, u, G3, true, T(0), back_rows, H);  // dhu U^T
        const T* bk = back.data_ptr<T>();
        for (int64_t b = b0; b < b1; ++b) {
          if (!kept[b]) continue;
          T* dhb = dhp + b * H;
          const T* r = rm ? rm + b * H : nullptr;
          for (int64_t j = 0; j < H; ++j) dhb[j] += r ? bk[b * H + j] * r[j] : bk[b * H + j];
        }
        continue;
      }
      // without reset_after: the candidate's recurrent product comes first, then z and r's
      T* dhhp = dhh.data_ptr<T>() + t * B * H;
      for (int64_t b = b0; b < b1; ++b) copy_row(dhhp + b * H, dx + b * G3 + 2 * H, H);
      // gradient of r * hin: dhh U[:, 2H:]^T
      gemm_rows<T>(nb, H, H, dhhp + b0 * H, H, u + 2 * H, G3, true, T(0), drh.data_ptr<T>() + b0 * H, H);
      const T* d_rh = drh.data_ptr<T>();
      T* dzrp = dzr.data_ptr<T>() + t * B * 2 * H;
      for (int64_t b = b0; b < b1; ++b) {
        T* dxb = dx + b * G3;
        if (!kept[b]) {
          zero_row(dzrp + b * 2 * H, 2 * H);
          continue;
        }
        const T* hinb = hin + b * H;
        for (int64_t j = 0; j < H; ++j) dr[j] = d_rh[b * H + j] * hinb[j];
        act_backward(ract, pre + b * G3 + H, a + b * G3 + H, dr.data(), dxb + H, H);
        copy_row(dzrp + b * 2 * H, dxb, 2 * H);
      }
      gemm_rows<T>(nb, H, 2 * H, dzrp + b0 * 2 * H, 2 * H, u, G3, true, T(0), back_rows, H);  // dzr U[:, :2H]^T
      const T* bk = back.data_ptr<T>();
      for (int64_t b = b0; b < b1; ++b) {
        if (!kept[b]) continue;
        T* dhb = dhp + b * H;
        const T* ab = a + b * G3;
        const T* r = rm ? rm + b * H : nullptr;
        for (int64_t j = 0; j < H; ++j) {
          const T dhin = bk[b * H + j] + d_rh[b * H + j] * ab[H + j];
          dhb[j] += r ? dhin * r[j] : dhin;
        }
      }
    }
    });
  });
  Tensor dU, db_r;
  if (reset_after) {
    dU = at::mm(HIN.reshape({T_ * B, H}).t(), DHU.reshape({T_ * B, G3}));
    db_r = DHU.sum({0, 1});
  } else {
    Tensor dU_zr = at::mm(HIN.reshape({T_ * B, H}).t(), dzr.reshape({T_ * B, 2 * H}));
    Tensor dU_h = at::mm(RH.reshape({T_ * B, H}).t(), dhh.reshape({T_ * B, H}));
    dU = at::cat({dU_zr, dU_h}, 1);
    db_r = at::zeros({G3}, opts);
  }
  auto proj = project_backward(DX, x, W, has_bias, need_dx);
  return {proj[0], proj[1], proj[2], dU, db_r, dh};
}

// ---------------------------------------------------------------------------------------------
// SimpleRNN: h' = φ(x W + b + h U). Saved: Z, A (T,B,H), HIN (T,B,H).

std::vector<Tensor> rnn_forward(const Tensor& x_in, const Tensor& W, const std::optional<Tensor>& b,
                                const Tensor& U, const Tensor& h0,
                                const std::optional<Tensor>& mask, const std::optional<Tensor>& rmask, int64_t act,
                                bool zero_output, bool return_sequences, bool save) {
  check_inputs(x_in, W, b, U, 1, mask, rmask);
  const Tensor x = x_in.contiguous();
  const int64_t T_ = x.size(0), B = x.size(1), H = U.size(0);
  const int64_t S = save ? T_ : 1;
  const auto opts = x.options();
  Tensor Z = project(x, W, b);
  Tensor A = at::empty({S, B, H}, opts);
  Tensor HIN = at::empty({S, B, H}, opts);
  Tensor HS = at::empty({2, B, H}, opts);
  Tensor out = return_sequences ? at::empty({T_, B, H}, opts) : at::zeros({B, H}, opts);
  const Tensor Uc = U.contiguous();

  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstmkit_rnn_forward", [&] {
    using T = scalar_t;
    const bool* m = mask_ptr(mask);
    const T* rm = rmask_ptr<T>(rmask);
    T* hs = HS.data_ptr<T>();
    std::memcpy(hs, h0.contiguous().data_ptr<T>(), sizeof(T) * B * H);
    OutputRows<T> outs{out.data_ptr<T>(), B, H, return_sequences};
    for_batch_chunks(B, H, [&](int64_t b0, int64_t b1) {
    const int64_t nb = b1 - b0;
    masked_input_rows(HIN.data_ptr<T>(), hs, rm, b0, b1, H);
    for (int64_t t = 0; t < T_; ++t) {
      const int64_t s = save ? t : 0;
      T* z = Z.data_ptr<T>() + t * B * H;
      gemm_rows<T>(nb, H, H, HIN.data_ptr<T>() + (s * B + b0) * H, H, Uc.data_ptr<T>(), H, false, T(1), z + b0 * H, H);
      T* a = A.data_ptr<T>() + s * B * H;
      const T* h_prev = hs + (t % 2) * B * H;
      T* h_next = hs + ((t + 1) % 2) * B * H;
      T* hin_next = (t + 1 < T_) ? HIN.data_ptr<T>() + (save ? t + 1 : 0) * B * H : nullptr;
      {
        for (int64_t b = b0; b < b1; ++b) {
          T* ab = a + b * H;
          act_forward(act, z + b * H, ab, H);
          T* hn = h_next + b * H;
          const bool keep = m == nullptr || m[t * B + b];
          if (keep) {
            copy_row(hn, ab, H);
            copy_row(outs.row(t, b), ab, H);
          } else {
            copy_row(hn, h_prev + b * H, H);
            hold_output(outs, t, b, zero_output);
          }
          if (hin_next) masked_input_row(hin_next + b * H, hn, rm ? rm + b * H : nullptr, H);
        }
      }
    }
    });
  });
  Tensor hT = HS[T_ % 2].clone();
  if (!save) return {out, hT};
  return {out, hT, Z, A, HIN};
}

std::vector<Tensor> rnn_backward(const Tensor& grad_out_in, const Tensor& grad_h, const Tensor& x,
                                 const Tensor& W, const Tensor& U,
                                 const std::optional<Tensor>& mask, const std::optional<Tensor>& rmask,
                                 const Tensor& Z, const Tensor& A, const Tensor& HIN, int64_t act, bool zero_output,
                                 bool return_sequences, bool has_bias, bool need_dx) {
  const int64_t T_ = Z.size(0), B = Z.size(1), H = U.size(0);
  const Tensor grad_out = grad_out_in.contiguous();
  const auto opts = Z.options();
  Tensor DZ = at::empty({T_, B, H}, opts);
  Tensor dh = grad_h.contiguous().clone();
  Tensor carry = at::zeros({B, H}, opts);
  Tensor back = at::empty({B, H}, opts);
  const Tensor Uc = U.contiguous();
  std::vector<uint8_t> kept(B);

  AT_DISPATCH_FLOATING_TYPES(Z.scalar_type(), "lstmkit_rnn_backward", [&] {
    using T = scalar_t;
    const bool* m = mask_ptr(mask);
    const T* rm = rmask_ptr<T>(rmask);
    const T* go = grad_out.data_ptr<T>();
    T* dhp = dh.data_ptr<T>();
    T* cr = carry.data_ptr<T>();
    for_batch_chunks(B, H, [&](int64_t b0, int64_t b1) {
    const int64_t nb = b1 - b0;
    std::vector<T> g(H);
    for (int64_t t = T_ - 1; t >= 0; --t) {
      const T* z = Z.data_ptr<T>() + t * B * H;
      const T* a = A.data_ptr<T>() + t * B * H;
      T* dz = DZ.data_ptr<T>() + t * B * H;
      {
        for (int64_t b = b0; b < b1; ++b) {
          const bool keep = m == nullptr || m[t * B + b];
          kept[b] = keep;
          output_grad_row(g.data(), go, t, T_, b, B, H, return_sequences, cr + b * H);
          if (!keep) {
            zero_row(dz + b * H, H);
            carry_past_masked_step(cr + b * H, g.data(), zero_output, H);
            continue;
          }
          zero_row(cr + b * H, H);
          const T* dhb = dhp + b * H;
          for (int64_t j = 0; j < H; ++j) g[j] += dhb[j];
          act_backward(act, z + b * H, a + b * H, g.data(), dz + b * H, H);
        }
      }
      gemm_rows<T>(nb, H, H, dz + b0 * H, H, Uc.data_ptr<T>(), H, true, T(0), back.data_ptr<T>() + b0 * H, H);
      const T* bk = back.data_ptr<T>();
      for (int64_t b = b0; b < b1; ++b) {
        if (!kept[b]) continue;
        T* dhb = dhp + b * H;
        const T* r = rm ? rm + b * H : nullptr;
        for (int64_t j = 0; j < H; ++j) dhb[j] = r ? bk[b * H + j] * r[j] : bk[b * H + j];
      }
    }
    });
  });
  Tensor dU = at::mm(HIN.reshape({T_ * B, H}).t(), DZ.reshape({T_ * B, H}));
  auto proj = project_backward(DZ, x, W, has_bias, need_dx);
  return {proj[0], proj[1], proj[2], dU, dh};
}

}  // namespace

TORCH_LIBRARY(lstmkit_fused, m) {
  m.def("lstm_forward(Tensor x, Tensor W, Tensor? b, Tensor U, Tensor h0, Tensor c0, Tensor? mask, Tensor? rmask, "
        "Tensor? peep, Tensor? gx, Tensor? gh, Tensor? gc, Tensor? bc, Tensor? zone, float zoneout_p, float eps, "
        "int act, int ract, bool zero_output, bool return_sequences, bool save) -> Tensor[]",
        &lstm_forward);
  m.def("lstm_backward(Tensor grad_out, Tensor grad_h, Tensor grad_c, Tensor x, Tensor W, Tensor U, Tensor? mask, "
        "Tensor? rmask, Tensor? peep, Tensor? gx, Tensor? gh, Tensor? gc, Tensor? zone, float zoneout_p, Tensor Z, "
        "Tensor A, Tensor CN, Tensor PC, Tensor HIN, Tensor CS, Tensor NX, Tensor RX, Tensor NH, Tensor RH, "
        "Tensor NC, Tensor RC, Tensor CI, "
        "int act, int ract, bool zero_output, bool return_sequences, bool has_bias, bool need_dx) -> Tensor[]",
        &lstm_backward);
  m.def("gru_forward(Tensor x, Tensor W, Tensor? b, Tensor U, Tensor? b_r, Tensor h0, Tensor? mask, Tensor? rmask, "
        "int act, int ract, bool reset_after, bool zero_output, bool return_sequences, bool save) -> Tensor[]",
        &gru_forward);
  m.def("gru_backward(Tensor grad_out, Tensor grad_h, Tensor x, Tensor W, Tensor U, Tensor? mask, Tensor? rmask, "
        "Tensor PRE, Tensor A, Tensor HU, Tensor RH, Tensor HIN, Tensor HS, int act, int ract, bool reset_after, "
        "bool zero_output, bool return_sequences, bool has_bias, bool need_dx) -> Tensor[]",
        &gru_backward);
  m.def("rnn_forward(Tensor x, Tensor W, Tensor? b, Tensor U, Tensor h0, Tensor? mask, Tensor? rmask, int act, "
        "bool zero_output, bool return_sequences, bool save) -> Tensor[]",
        &rnn_forward);
  m.def("rnn_backward(Tensor grad_out, Tensor grad_h, Tensor x, Tensor W, Tensor U, Tensor? mask, Tensor? rmask, "
        "Tensor Z, Tensor A, Tensor HIN, int act, bool zero_output, bool return_sequences, bool has_bias, "
        "bool need_dx) -> Tensor[]",
        &rnn_backward);
}

}  // namespace lstmkit_fused
