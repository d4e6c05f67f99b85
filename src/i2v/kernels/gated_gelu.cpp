#include "i2v/kernels/gated_gelu.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <string>

#include "i2v/error.h"
#include "i2v/kernels/avx512_math.h"
#include "i2v/kernels/cpu_features.h"
#include "i2v/kernels/vector_math.h"

namespace i2v::kernels {
namespace {

// erf by Abramowitz & Stegun 7.1.26 refined with an exp: |error| < 1.5e-7, no branches.
I2V_INLINE float erf_f(float x) {
  const float a = std::fabs(x);
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float r = 1.0f - p * t * exp_f(-a * a);
  return std::copysign(r, x);
}

I2V_INLINE float gelu_f(float x) {
  return 0.5f * x * (1.0f + erf_f(x * 0.70710678118654752f));
}

template <typename T>
I2V_INLINE void gated_rows(const T* h, T* y, int64_t r0, int64_t r1, int64_t inner) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* value = h + r * 2 * inner;
    const T* gate = value + inner;
    T* out = y + r * inner;
    for (int64_t j = 0; j < inner; ++j) store(out, j, load(value, j) * gelu_f(load(gate, j)));
  }
}

template <typename T>
I2V_INLINE void gelu_run(const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) store(y, i, gelu_f(load(x, i)));
}

I2V_CLONES void gated_rows_f32(const float* h, float* y, int64_t r0, int64_t r1, int64_t inner) {
  gated_rows(h, y, r0, r1, inner);
}
I2V_CLONES void gated_rows_bf16(const uint16_t* h, uint16_t* y, int64_t r0, int64_t r1,
                                int64_t inner) {
  gated_rows(h, y, r0, r1, inner);
}
I2V_CLONES void gelu_run_f32(const float* x, float* y, int64_t n) {
  gelu_run(x, y, n);
}
I2V_CLONES void gelu_run_bf16(const uint16_t* x, uint16_t* y, int64_t n) {
  gelu_run(x, y, n);
}

#ifdef I2V_HAVE_AVX512_MATH
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// gelu_f lane-wise: erf_f's steps, with 1 / (1 + 0.3275911 |x|) from a 14-bit reciprocal and one
// Newton step (relative error ~1e-7, where erf_f's own error is 1.5e-7) instead of a division.
// GCC vectorised erf_f with vdivps, which made the division most of GEGLU's time.
I2V_AVX512 __m512 gelu_avx512(__m512 g) {
  const __m512 x = _mm512_mul_ps(g, _mm512_set1_ps(0.70710678118654752f));
  const __m512i sign = _mm512_set1_epi32(static_cast<int>(0x80000000u));
  // |x| beyond 1e4: erf is +-1 in float32 all the same, and d stays finite (no inf * 0 below).
  const __m512 a = _mm512_min_ps(_mm512_abs_ps(x), _mm512_set1_ps(1e4f));
  const __m512 d = _mm512_fmadd_ps(a, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f));
  __m512 t = _mm512_rcp14_ps(d);
  t = _mm512_mul_ps(t, _mm512_fnmadd_ps(d, t, _mm512_set1_ps(2.0f)));
  __m512 p = _mm512_set1_ps(1.061405429f);
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
  const __m512 e = exp_avx512(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), a), a));
  const __m512 r = _mm512_fnmadd_ps(_mm512_mul_ps(p, t), e, _mm512_set1_ps(1.0f));
  const __m512 erf = _mm512_castsi512_ps(  // r >= 0: copysign(r, x)
      _mm512_or_si512(_mm512_castps_si512(r), _mm512_and_si512(sign, _mm512_castps_si512(x))));
  return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), g),
                       _mm512_add_ps(_mm512_set1_ps(1.0f), erf));
}

__attribute__((target("avx512f"))) void gated_rows_bf16_avx512(const uint16_t* h, uint16_t* y,
                                                               int64_t r0, int64_t r1,
                                                               int64_t inner) {
  const int64_t full = inner / 16 * 16;
  for (int64_t r = r0; r < r1; ++r) {
    const uint16_t* value = h + r * 2 * inner;
    const uint16_t* gate = value + inner;
    uint16_t* out = y + r * inner;
    for (int64_t j = 0; j < full; j += 16) {
      store_bf16_avx512(out + j, _mm512_mul_ps(load_bf16_avx512(value + j),
                                               gelu_avx512(load_bf16_avx512(gate + j))));
    }
    for (int64_t j = full; j < inner; ++j) store(out, j, load(value, j) * gelu_f(load(gate, j)));
  }
}
#pragma GCC diagnostic pop
#endif

void check_input(const at::Tensor& t, const char* what) {
  if (!t.defined() || t.device().type() != at::kCPU ||
      (t.scalar_type() != at::kFloat && t.scalar_type() != at::kBFloat16)) {
    throw ShapeError(std::string(what) + " kernel: a float32 or bfloat16 CPU tensor expected");
  }
}

}  // namespace

at::Tensor gated_gelu(const at::Tensor& h_in) {
  check_input(h_in, "gated_gelu");
  if (h_in.dim() < 1 || h_in.size(-1) % 2 != 0) {
    throw ShapeError("gated_gelu kernel: last dimension must be even, got " +
                     std::to_string(h_in.dim() ? h_in.size(-1) : 0));
  }
  const at::Tensor h = h_in.contiguous();
  const int64_t inner = h.size(-1) / 2, rows = inner ? h.numel() / (2 * inner) : 0;
  std::vector<int64_t> shape(h.sizes().begin(), h.sizes().end());
  shape.back() = inner;
  at::Tensor y = at::empty(shape, h.options());
  const bool bf16 = h.scalar_type() == at::kBFloat16;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, inner));
#ifdef I2V_HAVE_AVX512_MATH
  static const bool avx512 = cpu_has_avx512f();
#else
  constexpr bool avx512 = false;
#endif
  at::parallel_for(0, rows, grain, [&](int64_t r0, int64_t r1) {
#ifdef I2V_HAVE_AVX512_MATH
    if (bf16 && avx512) {
      gated_rows_bf16_avx512(static_cast<const uint16_t*>(h.data_ptr()),
                             static_cast<uint16_t*>(y.data_ptr()), r0, r1, inner);
      return;
    }
#endif
    if (bf16) {
      gated_rows_bf16(static_cast<const uint16_t*>(h.data_ptr()),
                      static_cast<uint16_t*>(y.data_ptr()), r0, r1, inner);
    } else {
      gated_rows_f32(h.data_ptr<float>(), y.data_ptr<float>(), r0, r1, inner);
    }
  });
  return y;
}

at::Tensor gelu(const at::Tensor& x_in) {
  check_input(x_in, "gelu");
  const at::Tensor x = x_in.contiguous();
  at::Tensor y = at::empty_like(x);
  const bool bf16 = x.scalar_type() == at::kBFloat16;
  at::parallel_for(0, x.numel(), 32768, [&](int64_t i0, int64_t i1) {
    if (bf16) {
      gelu_run_bf16(static_cast<const uint16_t*>(x.data_ptr()) + i0,
                    static_cast<uint16_t*>(y.data_ptr()) + i0, i1 - i0);
    } else {
      gelu_run_f32(x.data_ptr<float>() + i0, y.data_ptr<float>() + i0, i1 - i0);
    }
  });
  return y;
}

}  // namespace i2v::kernels
