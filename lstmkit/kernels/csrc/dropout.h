// Dropout masks, drawn fast: values 0 or 1 / (1 - p), each kept with probability 1 - p.
//
// torch's CPU dropout draws one Mersenne-twister number per value in a single stream (about
// 7 ns a value here, 0.9 ms of the seed model's 11 ms training step). These masks come from a
// counter-based generator instead: value i of a mask is SplitMix64(seed + i·φ) (Steele, Lea and
// Flood 2014, "Fast splittable pseudorandom number generators"; φ the 64-bit golden ratio, their
// increment), its top 24 bits a uniform number in [0, 1). Each value depends only on the seed and
// its index, so the loop vectorises, splits across threads, and gives the same mask for the same
// seed whatever the thread count. The seed is drawn from torch's generator by the caller, so
// torch.manual_seed makes the masks repeatable.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstdint>

namespace lstmkit_fused {

inline uint64_t splitmix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A new CPU tensor of `shape` and `dtype`: 0 with probability p, else 1 / (1 - p).
inline at::Tensor dropout_mask(at::IntArrayRef shape, at::ScalarType dtype, double p, int64_t seed) {
  TORCH_CHECK(p >= 0.0 && p < 1.0, "lstmkit dropout mask: p must be in [0, 1), got ", p);
  at::Tensor mask = at::empty(shape, at::TensorOptions().dtype(dtype));
  const int64_t n = mask.numel();
  // keep where the 24-bit draw u satisfies u >= p 2^24
  const uint32_t threshold = uint32_t(p * double(1u << 24));
  const uint64_t base = uint64_t(seed);
  constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;
  AT_DISPATCH_FLOATING_TYPES(mask.scalar_type(), "lstmkit_dropout_mask", [&] {
    scalar_t* out = mask.data_ptr<scalar_t>();
    const scalar_t kept = scalar_t(1.0 / (1.0 - p));
    at::parallel_for(0, n, 1 << 15, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const uint32_t u = uint32_t(splitmix64(base + uint64_t(i) * kGolden) >> 40);
        out[i] = u >= threshold ? kept : scalar_t(0);
      }
    });
  });
  return mask;
}

}  // namespace lstmkit_fused
