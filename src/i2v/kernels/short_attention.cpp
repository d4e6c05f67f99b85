#include "i2v/kernels/short_attention.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "i2v/kernels/attention_operands.h"
#include "i2v/kernels/avx512_math.h"
#include "i2v/kernels/cpu_features.h"

namespace i2v::kernels {
namespace {

constexpr int64_t kMaxLength = 16;  // queries and keys per entry: the scores fit one zmm
constexpr int64_t kMaxWidth = 256;  // d and dv: a row of k or v in 16 zmm at most

bool env_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("I2V_SHORT_ATTENTION");
    return !(v && std::string(v) == "0");
  }();
  return on;
}

struct View {
  const uint16_t* base;
  int64_t s0, s1, s2;  // strides of N, H, L (elements); the last one is 1
  const uint16_t* row(int64_t n, int64_t h, int64_t l) const {
    return base + n * s0 + h * s1 + l * s2;
  }
};

View view_of(const at::Tensor& t) {
  return {static_cast<const uint16_t*>(t.data_ptr()), t.stride(0), t.stride(1), t.stride(2)};
}

#ifdef I2V_HAVE_AVX512_MATH
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// Entries [e0, e1) of N x H. Per entry: k and v widened to float32 once (L1), then per query row
// the scores of all keys in one zmm (lane j: key j), their softmax, and the row of the output as
// a sum of v rows weighted by the probabilities.
__attribute__((target("avx512f"))) void run_entries(const View& q, const View& k, const View& v,
                                                    uint16_t* out, int64_t e0, int64_t e1,
                                                    int64_t heads, int64_t lq, int64_t lk,
                                                    int64_t d, int64_t dv, float scale) {
  alignas(64) float kf[kMaxLength * kMaxWidth], vf[kMaxLength * kMaxWidth];
  alignas(64) float qf[kMaxWidth], scores[16], probs[16];
  const __mmask16 keys = lanes_avx512(lk);
  for (int64_t e = e0; e < e1; ++e) {
    const int64_t n = e / heads, h = e % heads;
    for (int64_t j = 0; j < lk; ++j) {
      const uint16_t* kr = k.row(n, h, j);
      const uint16_t* vr = v.row(n, h, j);
      for (int64_t c = 0; c < d; c += 16) _mm512_store_ps(kf + j * d + c, load_bf16_avx512(kr + c));
      for (int64_t c = 0; c < dv; c += 16)
        _mm512_store_ps(vf + j * dv + c, load_bf16_avx512(vr + c));
    }
    for (int64_t i = 0; i < lq; ++i) {
      const uint16_t* qr = q.row(n, h, i);
      for (int64_t c = 0; c < d; c += 16) _mm512_store_ps(qf + c, load_bf16_avx512(qr + c));
      for (int64_t j = 0; j < lk; ++j) {
        __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
        int64_t c = 0;
        for (; c + 32 <= d; c += 32) {
          acc0 = _mm512_fmadd_ps(_mm512_load_ps(qf + c), _mm512_load_ps(kf + j * d + c), acc0);
          acc1 = _mm512_fmadd_ps(_mm512_load_ps(qf + c + 16), _mm512_load_ps(kf + j * d + c + 16),
                                 acc1);
        }
        if (c < d)
          acc0 = _mm512_fmadd_ps(_mm512_load_ps(qf + c), _mm512_load_ps(kf + j * d + c), acc0);
        scores[j] = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
      }
      // The softmax over the lk lanes (absent lanes: -inf, so exp gives 0 there).
      const __m512 s = _mm512_mul_ps(_mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), keys, scores),
                                     _mm512_set1_ps(scale));
      const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(s));
      const __m512 ex = _mm512_maskz_mov_ps(keys, exp_avx512(_mm512_sub_ps(s, m)));
      _mm512_store_ps(probs, _mm512_div_ps(ex, _mm512_set1_ps(_mm512_reduce_add_ps(ex))));
      uint16_t* orow = out + ((n * lq + i) * heads + h) * dv;
      for (int64_t c = 0; c < dv; c += 16) {
        __m512 acc = _mm512_setzero_ps();
        for (int64_t j = 0; j < lk; ++j)
          acc = _mm512_fmadd_ps(_mm512_set1_ps(probs[j]), _mm512_load_ps(vf + j * dv + c), acc);
        store_bf16_avx512(orow + c, acc);
      }
    }
  }
}
#pragma GCC diagnostic pop
#endif

}  // namespace

bool short_attention_enabled() {
#ifdef I2V_HAVE_AVX512_MATH
  static const bool on = cpu_has_avx512f();
  return on && env_enabled();
#else
  return false;
#endif
}

at::Tensor short_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           double scale) {
  if (!short_attention_enabled()) return {};
  if (!bf16_attention_operands(q, k, v)) return {};
  const int64_t batch = q.size(0), heads = q.size(1), lq = q.size(2), d = q.size(3);
  const int64_t lk = k.size(2), dv = v.size(3);
  if (lq < 1 || lk < 1 || lq > kMaxLength || lk > kMaxLength || d < 16 || dv < 16 ||
      d > kMaxWidth || dv > kMaxWidth || d % 16 != 0 || dv % 16 != 0 || batch * heads == 0)
    return {};
#ifdef I2V_HAVE_AVX512_MATH
  RECORD_FUNCTION("i2v::attention", std::vector<c10::IValue>({q, k, v}));
  at::Tensor out = at::empty({batch, lq, heads, dv}, q.options());
  const View qv = view_of(q), kv = view_of(k), vv = view_of(v);
  auto* o = static_cast<uint16_t*>(out.data_ptr());
  const float s = static_cast<float>(scale);
  at::parallel_for(0, batch * heads, 64, [&](int64_t e0, int64_t e1) {
    run_entries(qv, kv, vv, o, e0, e1, heads, lq, lk, d, dv, s);
  });
  return out.transpose(1, 2);
#else
  return {};
#endif
}

}  // namespace i2v::kernels
