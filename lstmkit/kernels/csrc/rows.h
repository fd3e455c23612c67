// Row-level building blocks shared by every cell: the per-step matrix product straight to BLAS,
// the split of the batch across threads, row copies, layer normalisation of a row and its
// backward, and deterministic sums over many rows.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#endif

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

using at::Tensor;

// Subnormal floats (below 1.2e-38 in float32, 2.2e-308 in double) cost x86 and ARM cores ten to a
// hundred times a normal operation. A long sequence's gradients decay into them step by step: a
// GRU(256) over 1,000 steps spent six times as long in its backward. TensorFlow flushes them to
// zero in every op it runs; so do these kernels, on each thread for the time it works on them
// (flush-to-zero and denormals-are-zero), restoring the thread's own setting after. The values
// lost are below any tolerance the results are held to.
class FlushDenormals {
 public:
#if defined(__x86_64__) || defined(_M_X64)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040u); }  // FTZ (bit 15) | DAZ (bit 6)
  ~FlushDenormals() { _mm_setcsr(saved_); }

 private:
  unsigned saved_;
#elif defined(__aarch64__)
  FlushDenormals() {
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(saved_));
    const uint64_t flushed = saved_ | (uint64_t(1) << 24);  // FZ
    __asm__ __volatile__("msr fpcr, %0" : : "r"(flushed));
  }
  ~FlushDenormals() { __asm__ __volatile__("msr fpcr, %0" : : "r"(saved_)); }

 private:
  uint64_t saved_;
#endif
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;
};

// The same on every thread of ATen's pool for the guard's life, for the tensor operations a
// kernel calls between its loops (the projections, the weights' gradients): their BLAS threads
// are the pool's. Each thread keeps its own setting aside once and gets it back at the end.
class FlushDenormalsInPool {
 public:
  FlushDenormalsInPool() { on_each_thread(true); }
  ~FlushDenormalsInPool() { on_each_thread(false); }
  FlushDenormalsInPool(const FlushDenormalsInPool&) = delete;
  FlushDenormalsInPool& operator=(const FlushDenormalsInPool&) = delete;

 private:
  static void on_each_thread(bool on) {
    const int64_t n = std::max<int64_t>(1, at::get_num_threads());
    at::parallel_for(0, n, 1, [on](int64_t, int64_t) {
      thread_local std::unique_ptr<FlushDenormals> held;  // set while this thread flushes for us
      if (on && !held) held = std::make_unique<FlushDenormals>();
      if (!on) held.reset();
    });
  }
};

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
    const FlushDenormals flush;
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
inline void masked_input_row(T* dst, const T* h, const T* rmask, int64_t n) {
  if (dst == h) return;  // hin is h itself (no recurrent dropout)
  if (rmask == nullptr) {
    copy_row(dst, h, n);
  } else {
    for (int64_t j = 0; j < n; ++j) dst[j] = h[j] * rmask[j];
  }
}

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
    const FlushDenormals flush;
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

}  // namespace lstmkit_fused
