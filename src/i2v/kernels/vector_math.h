// Scalar building blocks of the CPU kernels, written so that GCC auto-vectorises the loops that
// use them (bf16 <-> float32 by bit shifts, a branch-free expf). Internal to src/i2v/kernels.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

// The inner loops are plain C++ that GCC auto-vectorises; target_clones builds them once per ISA
// and picks the widest at load time, so the binary still runs on any x86-64.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__)
#define I2V_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define I2V_CLONES
#endif
#define I2V_INLINE inline __attribute__((always_inline))

namespace i2v::kernels {

I2V_INLINE float load(const float* p, int64_t i) {
  return p[i];
}
I2V_INLINE float load(const uint16_t* p, int64_t i) {
  uint32_t u = static_cast<uint32_t>(p[i]) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
I2V_INLINE void store(float* p, int64_t i, float v) {
  p[i] = v;
}
// Round to nearest even, as c10::BFloat16 does (NaN stays NaN).
I2V_INLINE void store(uint16_t* p, int64_t i, float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  const uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  p[i] = static_cast<uint16_t>(v != v ? 0x7fc0u : r);
}

// Cephes-style expf (max error ~2 ulp over the clamped range), branch-free so it vectorises.
I2V_INLINE float exp_f(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  // Round x / ln2 to the nearest integer by the 1.5 * 2^23 trick (no floor: a branch for GCC).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

}  // namespace i2v::kernels
