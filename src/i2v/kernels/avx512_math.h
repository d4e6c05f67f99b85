// AVX-512 versions of vector_math.h's building blocks, for kernels whose hot loop GCC does not
// vectorise well on its own (a scalar max pass, a vdivps). Each does the same arithmetic as its
// scalar twin in vector_math.h, lane by lane. Callers are functions with
// __attribute__((target("avx512f"))) chosen at run time by cpu_has_avx512f(). Internal to
// src/i2v/kernels.
#pragma once

#if defined(__GNUC__) && defined(__x86_64__)
#define I2V_HAVE_AVX512_MATH 1
#include <immintrin.h>

#include <cstdint>
#include <cstring>

// GCC 12's own intrinsics headers trip -Wmaybe-uninitialized (their _mm512_undefined_* values).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define I2V_AVX512 __attribute__((target("avx512f"), always_inline)) inline

namespace i2v::kernels {

// exp(q) for |q| <= ln2 / 2 (the reduced argument): exp_f's degree-6 polynomial.
I2V_AVX512 __m512 exp_reduced_avx512(__m512 q) {
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, q, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, q, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, q, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, q, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, q, _mm512_set1_ps(5.0000001201e-1f));
  return _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, q), q, q), _mm512_set1_ps(1.0f));
}

// exp_f(t) lane-wise, the same steps: clamp, k = round(t / ln2), Cody-Waite, degree-6 polynomial.
I2V_AVX512 __m512 exp_avx512(__m512 t) {
  t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
  const __m512 magic = _mm512_set1_ps(12582912.0f);
  const __m512 k = _mm512_sub_ps(
      _mm512_add_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504088896341f)), magic), magic);
  __m512 q = _mm512_sub_ps(t, _mm512_mul_ps(k, _mm512_set1_ps(0.693359375f)));
  q = _mm512_sub_ps(q, _mm512_mul_ps(k, _mm512_set1_ps(-2.12194440e-4f)));
  const __m512 p = exp_reduced_avx512(q);
  const __m512i bits =
      _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(k), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

// Round to nearest even to bf16 bit patterns (NaN -> 0x7fc0), as store() does.
I2V_AVX512 __m256i bf16_avx512(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  __m512i r =
      _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), lsb), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  r = _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(0x7fc0));
  return _mm512_cvtepi32_epi16(r);
}

// 16 bf16 values widened to float32.
I2V_AVX512 __m512 load_bf16_avx512(const uint16_t* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// 16 float32 values rounded to bf16 (bf16_avx512) and stored.
I2V_AVX512 void store_bf16_avx512(uint16_t* p, __m512 v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), bf16_avx512(v));
}

// The first n (< 16) values of a row's tail, through a buffer: masked 16-bit loads and stores
// would need AVX512-BW, which cpu_has_avx512f() does not promise. Absent lanes read as 0.
I2V_AVX512 __m512 load_bf16_avx512(const uint16_t* p, int64_t n) {
  alignas(32) uint16_t buf[16] = {};
  std::memcpy(buf, p, static_cast<size_t>(n) * sizeof(uint16_t));
  return load_bf16_avx512(buf);
}
I2V_AVX512 void store_bf16_avx512(uint16_t* p, __m512 v, int64_t n) {
  alignas(32) uint16_t buf[16];
  store_bf16_avx512(buf, v);
  std::memcpy(p, buf, static_cast<size_t>(n) * sizeof(uint16_t));
}

// A mask of the first `lanes` lanes (0 to 16).
I2V_AVX512 __mmask16 lanes_avx512(int64_t lanes) {
  return lanes >= 16 ? static_cast<__mmask16>(0xffff)
                     : static_cast<__mmask16>((1u << (lanes > 0 ? lanes : 0)) - 1u);
}

// The float32 sums of d = x - shift and of d * d over n bf16 values (n < ~4096 keeps them
// accurate; callers flush longer runs into double), in two accumulator pairs; a tail's absent
// lanes are masked out of d.
I2V_AVX512 void moments_bf16_avx512(const uint16_t* x, int64_t n, __m512 shift, float& s1,
                                    float& s2) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 d0 = _mm512_sub_ps(load_bf16_avx512(x + i), shift);
    const __m512 d1 = _mm512_sub_ps(load_bf16_avx512(x + i + 16), shift);
    a0 = _mm512_add_ps(a0, d0);
    a1 = _mm512_add_ps(a1, d1);
    b0 = _mm512_fmadd_ps(d0, d0, b0);
    b1 = _mm512_fmadd_ps(d1, d1, b1);
  }
  for (; i < n; i += 16) {
    const int64_t lanes = n - i < 16 ? n - i : 16;
    const __m512 x16 = lanes == 16 ? load_bf16_avx512(x + i) : load_bf16_avx512(x + i, lanes);
    const __m512 d = _mm512_maskz_sub_ps(lanes_avx512(lanes), x16, shift);
    a0 = _mm512_add_ps(a0, d);
    b0 = _mm512_fmadd_ps(d, d, b0);
  }
  s1 = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
  s2 = _mm512_reduce_add_ps(_mm512_add_ps(b0, b1));
}

// exp(t) for the SiLU: k = round(t / ln2) by vrndscaleps, the same Cody-Waite reduction and
// degree-6 polynomial as exp_f, and 2^k applied by vscalefps, which also gives 0 and inf beyond
// float32's range without clamping (11 instructions where exp_avx512 takes about 20).
I2V_AVX512 __m512 exp_scalef_avx512(__m512 t) {
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 q = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), t);
  q = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), q);
  const __m512 p = exp_reduced_avx512(q);
  return _mm512_scalef_ps(p, k);
}

// silu(y) = y / (1 + exp(-y)), the division as a 14-bit reciprocal plus one Newton step
// (relative error ~1e-7): vdivps would be most of a SiLU's time. exp(-y) is capped at exp(88) as
// exp_f caps it: an infinite 1 + exp(-y) would make the Newton step inf * 0. Below y = -88 the
// result is 0 or a denormal where the exact value is below 1e-36.
I2V_AVX512 __m512 silu_avx512(__m512 y) {
  const __m512 neg = _mm512_min_ps(_mm512_sub_ps(_mm512_setzero_ps(), y), _mm512_set1_ps(88.0f));
  const __m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f), exp_scalef_avx512(neg));
  __m512 t = _mm512_rcp14_ps(d);
  t = _mm512_mul_ps(t, _mm512_fnmadd_ps(d, t, _mm512_set1_ps(2.0f)));
  return _mm512_mul_ps(y, t);
}

}  // namespace i2v::kernels

#pragma GCC diagnostic pop
#endif
