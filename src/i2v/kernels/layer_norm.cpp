#include "i2v/kernels/layer_norm.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "i2v/error.h"
#include "i2v/kernels/avx512_math.h"
#include "i2v/kernels/cpu_features.h"
#include "i2v/kernels/vector_math.h"

namespace i2v::kernels {
namespace {

constexpr int kLanes = 16;

template <typename T>
I2V_INLINE void norm_rows(const T* x, T* y, int64_t r0, int64_t r1, int64_t c, const float* w,
                          const float* b, float eps) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* in = x + r * c;
    T* out = y + r * c;
    const float shift = load(in, 0);
    float s1[kLanes] = {}, s2[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= c; i += kLanes) {
      for (int j = 0; j < kLanes; ++j) {
        const float d = load(in, i + j) - shift;
        s1[j] += d;
        s2[j] += d * d;
      }
    }
    double a1 = 0, a2 = 0;
    for (; i < c; ++i) {
      const float d = load(in, i) - shift;
      a1 += d;
      a2 += static_cast<double>(d) * d;
    }
    for (int j = 0; j < kLanes; ++j) {
      a1 += s1[j];
      a2 += s2[j];
    }
    const double m = a1 / c;
    const double var = std::max(0.0, a2 / c - m * m);
    const float mean = static_cast<float>(shift + m);
    const float rstd = static_cast<float>(1.0 / std::sqrt(var + eps));
    for (int64_t j = 0; j < c; ++j) store(out, j, (load(in, j) - mean) * rstd * w[j] + b[j]);
  }
}

I2V_CLONES void norm_rows_f32(const float* x, float* y, int64_t r0, int64_t r1, int64_t c,
                              const float* w, const float* b, float eps) {
  norm_rows(x, y, r0, r1, c, w, b, eps);
}
I2V_CLONES void norm_rows_bf16(const uint16_t* x, uint16_t* y, int64_t r0, int64_t r1, int64_t c,
                               const float* w, const float* b, float eps) {
  norm_rows(x, y, r0, r1, c, w, b, eps);
}

#ifdef I2V_HAVE_AVX512_MATH
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// norm_rows for bf16 with AVX-512 intrinsics: the same arithmetic (moments of x - x[0] in float32
// lanes, added into double; (x - mean) * rstd * w + b), two accumulator pairs for the moments and
// (rstd * w) formed once per vector instead of GCC's scalar-lane version.
__attribute__((target("avx512f"))) void norm_rows_bf16_avx512(const uint16_t* x, uint16_t* y,
                                                              int64_t r0, int64_t r1, int64_t c,
                                                              const float* w, const float* b,
                                                              float eps) {
  const int64_t full = c / 16 * 16, tail = c - full;
  const __mmask16 k = lanes_avx512(tail);
  for (int64_t r = r0; r < r1; ++r) {
    const uint16_t* in = x + r * c;
    uint16_t* out = y + r * c;
    const __m512 shift = _mm512_set1_ps(load(in, 0));
    float s1 = 0, s2 = 0;
    moments_bf16_avx512(in, c, shift, s1, s2);
    const double m = s1 / c;
    const double var = std::max(0.0, s2 / c - m * m);
    const __m512 mean = _mm512_set1_ps(static_cast<float>(load(in, 0) + m));
    const __m512 rstd = _mm512_set1_ps(static_cast<float>(1.0 / std::sqrt(var + eps)));
    for (int64_t j = 0; j < full; j += 16) {
      const __m512 v = _mm512_mul_ps(_mm512_sub_ps(load_bf16_avx512(in + j), mean), rstd);
      store_bf16_avx512(out + j,
                        _mm512_fmadd_ps(v, _mm512_loadu_ps(w + j), _mm512_loadu_ps(b + j)));
    }
    if (tail) {
      const __m512 v = _mm512_mul_ps(_mm512_sub_ps(load_bf16_avx512(in + full, tail), mean), rstd);
      store_bf16_avx512(out + full,
                        _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(k, w + full),
                                        _mm512_maskz_loadu_ps(k, b + full)),
                        tail);
    }
  }
}
#pragma GCC diagnostic pop
#endif

std::vector<float> as_floats(const at::Tensor& t, int64_t c, float fill) {
  if (!t.defined()) return std::vector<float>(c, fill);
  at::Tensor f = t.to(at::kFloat).contiguous();
  return std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + c);
}

}  // namespace

at::Tensor layer_norm(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias,
                      double eps) {
  if (!input.defined() || input.dim() < 1 || !input.device().is_cpu() ||
      (input.scalar_type() != at::kFloat && input.scalar_type() != at::kBFloat16)) {
    throw ShapeError("layer_norm kernel: a float32 or bfloat16 CPU tensor expected");
  }
  const int64_t c = input.size(-1);
  for (const at::Tensor* p : {&weight, &bias}) {
    if (p->defined() && p->numel() != c) {
      throw ShapeError("layer_norm kernel: weight/bias must have " + std::to_string(c) +
                       " elements, got " + std::to_string(p->numel()));
    }
  }
  const at::Tensor x = input.contiguous();
  at::Tensor y = at::empty_like(x);
  if (c == 0 || x.numel() == 0) return y;
  const std::vector<float> w = as_floats(weight, c, 1.0f), b = as_floats(bias, c, 0.0f);
  const int64_t rows = x.numel() / c;
  const bool bf16 = x.scalar_type() == at::kBFloat16;
  const float e = static_cast<float>(eps);
  at::parallel_for(0, rows, std::max<int64_t>(1, 16384 / c), [&](int64_t r0, int64_t r1) {
#ifdef I2V_HAVE_AVX512_MATH
    static const bool avx512 = cpu_has_avx512f();
    if (bf16 && avx512) {
      norm_rows_bf16_avx512(static_cast<const uint16_t*>(x.data_ptr()),
                            static_cast<uint16_t*>(y.data_ptr()), r0, r1, c, w.data(), b.data(), e);
      return;
    }
#endif
    if (bf16) {
      norm_rows_bf16(static_cast<const uint16_t*>(x.data_ptr()),
                     static_cast<uint16_t*>(y.data_ptr()), r0, r1, c, w.data(), b.data(), e);
    } else {
      norm_rows_f32(x.data_ptr<float>(), y.data_ptr<float>(), r0, r1, c, w.data(), b.data(), e);
    }
  });
  return y;
}

}  // namespace i2v::kernels
