#include "i2v/kernels/softmax.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "i2v/error.h"
#include "i2v/kernels/avx512_math.h"
#include "i2v/kernels/cpu_features.h"
#include "i2v/kernels/vector_math.h"

namespace i2v::kernels {
namespace {

// Every loop works on 16 independent lanes (one zmm) so GCC vectorises it: a running max or sum
// over one scalar is a loop-carried dependency it will not reorder for floats.
template <typename In, typename Out>
I2V_INLINE void softmax_row(const In* x, Out* y, int64_t n, float scale, float* buf) {
  constexpr int kLanes = 16;
  float lane_max[kLanes];
  for (int j = 0; j < kLanes; ++j) lane_max[j] = -INFINITY;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      const float v = load(x, i + j) * scale;
      buf[i + j] = v;
      lane_max[j] = lane_max[j] < v ? v : lane_max[j];
    }
  }
  float m = -INFINITY;
  for (; i < n; ++i) {
    buf[i] = load(x, i) * scale;
    m = m < buf[i] ? buf[i] : m;
  }
  for (int j = 0; j < kLanes; ++j) m = m < lane_max[j] ? lane_max[j] : m;
  float sum[kLanes] = {};
  i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      buf[i + j] = exp_f(buf[i + j] - m);
      sum[j] += buf[i + j];
    }
  }
  for (; i < n; ++i) {
    buf[i] = exp_f(buf[i] - m);
    sum[0] += buf[i];
  }
  float total = 0;
  for (int j = 0; j < kLanes; ++j) total += sum[j];
  const float inv = 1.0f / total;
  for (int64_t k = 0; k < n; ++k) store(y, k, buf[k] * inv);
}

I2V_CLONES void rows_bf16_bf16(const uint16_t* x, uint16_t* y, int64_t r0, int64_t r1, int64_t n,
                               float s, float* buf) {
  for (int64_t r = r0; r < r1; ++r) softmax_row(x + r * n, y + r * n, n, s, buf);
}
I2V_CLONES void rows_bf16_f32(const uint16_t* x, float* y, int64_t r0, int64_t r1, int64_t n,
                              float s, float* buf) {
  for (int64_t r = r0; r < r1; ++r) softmax_row(x + r * n, y + r * n, n, s, buf);
}
I2V_CLONES void rows_f32_bf16(const float* x, uint16_t* y, int64_t r0, int64_t r1, int64_t n,
                              float s, float* buf) {
  for (int64_t r = r0; r < r1; ++r) softmax_row(x + r * n, y + r * n, n, s, buf);
}
I2V_CLONES void rows_f32_f32(const float* x, float* y, int64_t r0, int64_t r1, int64_t n, float s,
                             float* buf) {
  for (int64_t r = r0; r < r1; ++r) softmax_row(x + r * n, y + r * n, n, s, buf);
}

#ifdef I2V_HAVE_AVX512_MATH
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// The attention's rows (float32 scores -> bf16 probabilities) with AVX-512 intrinsics: GCC left
// softmax_row's max pass scalar (16 scalar running maxima), which made the softmax most of the
// blocked attention's time. The same arithmetic as softmax_row (scale, max, exp_f, a 16-lane
// float32 sum, round to nearest even); scale > 0, so max(x * scale) = max(x) * scale.
__attribute__((target("avx512f"))) void rows_f32_bf16_avx512(const float* x, uint16_t* y,
                                                             int64_t rows, int64_t n, float scale,
                                                             float* buf) {
  const __m512 s = _mm512_set1_ps(scale);
  const int64_t full = n / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (n - full)) - 1u);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    uint16_t* yr = y + r * n;
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < full; i += 16)
      mx = _mm512_max_ps(mx, _mm512_mul_ps(_mm512_loadu_ps(xr + i), s));
    if (tail) {
      const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, xr + full), s);
      mx = _mm512_mask_max_ps(mx, tail, mx, v);
    }
    const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (int64_t i = 0; i < full; i += 16) {
      const __m512 e = exp_avx512(_mm512_sub_ps(_mm512_mul_ps(_mm512_loadu_ps(xr + i), s), m));
      _mm512_storeu_ps(buf + i, e);
      sum = _mm512_add_ps(sum, e);
    }
    if (tail) {
      const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, xr + full), s);
      const __m512 e = exp_avx512(_mm512_sub_ps(v, m));
      _mm512_mask_storeu_ps(buf + full, tail, e);
      sum = _mm512_mask_add_ps(sum, tail, sum, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int64_t i = 0; i < full; i += 16)
      store_bf16_avx512(yr + i, _mm512_mul_ps(_mm512_loadu_ps(buf + i), inv));
    if (tail) {
      uint16_t last[16];
      store_bf16_avx512(last, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, buf + full), inv));
      std::memcpy(yr + full, last, static_cast<size_t>(n - full) * sizeof(uint16_t));
    }
  }
}
#pragma GCC diagnostic pop
#endif

}  // namespace

void scaled_softmax_rows(const float* x, uint16_t* y, int64_t rows, int64_t n, float scale,
                         float* buf) {
#ifdef I2V_HAVE_AVX512_MATH
  static const bool avx512 = cpu_has_avx512f();
  if (avx512 && scale > 0) {
    rows_f32_bf16_avx512(x, y, rows, n, scale, buf);
    return;
  }
#endif
  rows_f32_bf16(x, y, 0, rows, n, scale, buf);
}

at::Tensor scaled_softmax(const at::Tensor& input, double scale, at::ScalarType out_dtype) {
  RECORD_FUNCTION("i2v::softmax", std::vector<c10::IValue>({input}));
  auto ok = [](at::ScalarType t) { return t == at::kFloat || t == at::kBFloat16; };
  if (!input.defined() || input.dim() < 1 || !ok(input.scalar_type()) || !ok(out_dtype) ||
      !input.device().is_cpu()) {
    throw ShapeError("scaled_softmax: needs a float32 or bfloat16 CPU tensor and output dtype");
  }
  const at::Tensor x = input.contiguous();
  at::Tensor y = at::empty(x.sizes(), x.options().dtype(out_dtype));
  const int64_t n = x.dim() ? x.size(-1) : 1;
  if (x.numel() == 0 || n == 0) return y;
  const int64_t rows = x.numel() / n;
  const bool in16 = x.scalar_type() == at::kBFloat16, out16 = out_dtype == at::kBFloat16;
  const float s = static_cast<float>(scale);
  at::parallel_for(0, rows, std::max<int64_t>(1, 32768 / n), [&](int64_t r0, int64_t r1) {
    std::vector<float> buf(n);
    const void* xp = x.data_ptr();
    void* yp = y.data_ptr();
    if (in16 && out16) {
      rows_bf16_bf16(static_cast<const uint16_t*>(xp), static_cast<uint16_t*>(yp), r0, r1, n, s,
                     buf.data());
    } else if (in16) {
      rows_bf16_f32(static_cast<const uint16_t*>(xp), static_cast<float*>(yp), r0, r1, n, s,
                    buf.data());
    } else if (out16) {
      rows_f32_bf16(static_cast<const float*>(xp), static_cast<uint16_t*>(yp), r0, r1, n, s,
                    buf.data());
    } else {
      rows_f32_f32(static_cast<const float*>(xp), static_cast<float*>(yp), r0, r1, n, s,
                   buf.data());
    }
  });
  return y;
}

}  // namespace i2v::kernels
