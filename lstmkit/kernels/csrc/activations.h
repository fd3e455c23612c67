// Pointwise math of the fused CPU kernels: a vectorisable exp, sigmoid and tanh, and every
// registered activation's forward y = f(z) and backward dz = dy f'(z) over a row of n values.
// The activation ids match ACTIVATION_IDS in lstmkit/kernels/fused.py.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace lstmkit_fused {

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

// Whether the backward of activation `act` reads its input z, or only its output y (tanh,
// sigmoid, relu, exponential and linear write f' in y): where it does not, a cell need not keep z.
inline bool backward_reads_input(int64_t act) {
  switch (act) {
    case LINEAR: case TANH: case SIGMOID: case RELU: case EXPONENTIAL: return false;
    default: return true;
  }
}

// dz = dy * f'(z); z is the activation's input (null where backward_reads_input is false) and y
// its output.
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

}  // namespace lstmkit_fused
