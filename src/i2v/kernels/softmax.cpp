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

// softmax_exp_rows without AVX-512: exp_f per value.
I2V_CLONES void exp_rows(const float* x, uint16_t* e, float* inv_sum, int64_t rows, int64_t n,
                         float scale) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float m = -INFINITY;
    for (int64_t i = 0; i < n; ++i) m = m < xr[i] ? xr[i] : m;
    float sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float v = exp_f((xr[i] - m) * scale);
      sum += v;
      store(e + r * n, i, v);
    }
    inv_sum[r] = 1.0f / sum;
  }
}

#ifdef I2V_HAVE_AVX512_MATH
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// 2^u for u <= 0: k = round(u), 2^(u - k) by its degree-6 Taylor polynomial on [-1/2, 1/2]
// (relative error below 2e-7), times 2^k by vscalefps (0 below float32's range). u is clamped at
// -200 so that -inf (a masked score) gives 0, not inf - inf.
I2V_AVX512 __m512 exp2_nonpositive_avx512(__m512 u) {
  u = _mm512_max_ps(u, _mm512_set1_ps(-200.0f));
  const __m512 k = _mm512_roundscale_ps(u, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(u, k);
  __m512 p = _mm512_set1_ps(1.5403530393381606e-4f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3333558146428443e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6181291076284772e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504108664821580e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022650695910071e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718055994531e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, k);
}

// softmax_exp_rows with AVX-512: a max pass and one pass for exp, sum and the bf16 store. exp(t)
// is taken as 2^(t log2 e) with scale * log2 e folded into one multiply.
__attribute__((target("avx512f"))) void exp_rows_avx512(const float* x, uint16_t* e, float* inv_sum,
                                                        int64_t rows, int64_t n, float scale) {
  const __m512 c = _mm512_set1_ps(scale * 1.44269504088896341f);
  const int64_t full = n / 16 * 16, tail = n - full;
  const __mmask16 k = lanes_avx512(tail);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    uint16_t* er = e + r * n;
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < full; i += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(xr + i));
    if (tail) mx = _mm512_mask_max_ps(mx, k, mx, _mm512_maskz_loadu_ps(k, xr + full));
    const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (int64_t i = 0; i < full; i += 16) {
      const __m512 v =
          exp2_nonpositive_avx512(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(xr + i), m), c));
      sum = _mm512_add_ps(sum, v);
      store_bf16_avx512(er + i, v);
    }
    if (tail) {
      const __m512 v =
          _mm512_maskz_mov_ps(k, exp2_nonpositive_avx512(_mm512_mul_ps(
                                     _mm512_sub_ps(_mm512_maskz_loadu_ps(k, xr + full), m), c)));
      sum = _mm512_add_ps(sum, v);
      store_bf16_avx512(er + full, v, tail);
    }
    inv_sum[r] = 1.0f / _mm512_reduce_add_ps(sum);
  }
}
#pragma GCC diagnostic pop
#endif

}  // namespace

void softmax_exp_rows(const float* x, uint16_t* e, float* inv_sum, int64_t rows, int64_t n,
                      float scale) {
#ifdef I2V_HAVE_AVX512_MATH
  static const bool avx512 = cpu_has_avx512f();
  if (avx512) {
    exp_rows_avx512(x, e, inv_sum, rows, n, scale);
    return;
  }
#endif
  exp_rows(x, e, inv_sum, rows, n, scale);
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
