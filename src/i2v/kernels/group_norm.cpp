#include "i2v/kernels/group_norm.h"

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

constexpr int kLanes = 16;    // independent float accumulators (one zmm)
constexpr int kFlush = 2048;  // elements per lane block before adding into double

I2V_INLINE float silu_f(float y) {
  return y / (1.0f + exp_f(-y));
}

// Sum of (x[i] - shift) and of its square over a contiguous run.
template <typename T>
I2V_INLINE void moments(const T* x, int64_t n, float shift, double& s1, double& s2) {
  int64_t i = 0;
  while (i < n) {
    const int64_t end = std::min(n, i + kFlush);
    float a[kLanes] = {}, b[kLanes] = {};
    for (; i + kLanes <= end; i += kLanes) {
      for (int j = 0; j < kLanes; ++j) {
        const float d = load(x, i + j) - shift;
        a[j] += d;
        b[j] += d * d;
      }
    }
    for (; i < end; ++i) {
      const float d = load(x, i) - shift;
      a[0] += d;
      b[0] += d * d;
    }
    for (int j = 0; j < kLanes; ++j) {
      s1 += a[j];
      s2 += b[j];
    }
  }
}

template <typename T>
I2V_INLINE void affine_row(const T* x, T* y, int64_t n, float m, float a, float b, bool silu) {
  // (x - mean) * a + b, not x * a + (b - mean * a): no cancellation when |mean| * a is large.
  if (silu) {
    for (int64_t i = 0; i < n; ++i) store(y, i, silu_f((load(x, i) - m) * a + b));
  } else {
    for (int64_t i = 0; i < n; ++i) store(y, i, (load(x, i) - m) * a + b);
  }
}

// Per-channel sums over rows [r0, r1) of a (rows, C) block, minus a per-channel shift.
template <typename T>
I2V_INLINE void column_moments(const T* x, int64_t r0, int64_t r1, int64_t c, const float* shift,
                               double* s1, double* s2, float* a, float* b) {
  for (int64_t r = r0; r < r1;) {
    const int64_t end = std::min(r1, r + 256);
    std::fill(a, a + c, 0.0f);
    std::fill(b, b + c, 0.0f);
    for (; r < end; ++r) {
      const T* row = x + r * c;
      for (int64_t j = 0; j < c; ++j) {
        const float d = load(row, j) - shift[j];
        a[j] += d;
        b[j] += d * d;
      }
    }
    for (int64_t j = 0; j < c; ++j) {
      s1[j] += a[j];
      s2[j] += b[j];
    }
  }
}

template <typename T>
I2V_INLINE void affine_rows(const T* x, T* y, int64_t r0, int64_t r1, int64_t c, const float* m,
                            const float* a, const float* b, bool silu) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* in = x + r * c;
    T* out = y + r * c;
    if (silu) {
      for (int64_t j = 0; j < c; ++j) store(out, j, silu_f((load(in, j) - m[j]) * a[j] + b[j]));
    } else {
      for (int64_t j = 0; j < c; ++j) store(out, j, (load(in, j) - m[j]) * a[j] + b[j]);
    }
  }
}

// Non-template entry points, cloned per ISA.
I2V_CLONES void moments_f32(const float* x, int64_t n, float s, double& a, double& b) {
  moments(x, n, s, a, b);
}
I2V_CLONES void moments_bf16(const uint16_t* x, int64_t n, float s, double& a, double& b) {
  moments(x, n, s, a, b);
}
I2V_CLONES void affine_row_f32(const float* x, float* y, int64_t n, float m, float a, float b,
                               bool s) {
  affine_row(x, y, n, m, a, b, s);
}
I2V_CLONES void affine_row_bf16(const uint16_t* x, uint16_t* y, int64_t n, float m, float a,
                                float b, bool s) {
  affine_row(x, y, n, m, a, b, s);
}
I2V_CLONES void column_moments_f32(const float* x, int64_t r0, int64_t r1, int64_t c,
                                   const float* sh, double* s1, double* s2, float* a, float* b) {
  column_moments(x, r0, r1, c, sh, s1, s2, a, b);
}
I2V_CLONES void column_moments_bf16(const uint16_t* x, int64_t r0, int64_t r1, int64_t c,
                                    const float* sh, double* s1, double* s2, float* a, float* b) {
  column_moments(x, r0, r1, c, sh, s1, s2, a, b);
}
I2V_CLONES void affine_rows_f32(const float* x, float* y, int64_t r0, int64_t r1, int64_t c,
                                const float* m, const float* a, const float* b, bool s) {
  affine_rows(x, y, r0, r1, c, m, a, b, s);
}
I2V_CLONES void affine_rows_bf16(const uint16_t* x, uint16_t* y, int64_t r0, int64_t r1, int64_t c,
                                 const float* m, const float* a, const float* b, bool s) {
  affine_rows(x, y, r0, r1, c, m, a, b, s);
}

#ifdef I2V_HAVE_AVX512_MATH
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// bf16 with AVX-512 intrinsics. GCC vectorised silu_f's division as vdivps and kept the
// channels-last moments' per-channel sums in memory (a load and a store per element): together
// most of the norm's time. The same arithmetic as the kernels above, but the division
// (silu_avx512: a reciprocal and a Newton step).

template <bool Silu>
I2V_AVX512 __m512 affine_avx512(__m512 x, __m512 m, __m512 a, __m512 b) {
  const __m512 y = _mm512_fmadd_ps(_mm512_sub_ps(x, m), a, b);
  return Silu ? silu_avx512(y) : y;
}

// affine_rows for bf16: rows of c channels, per-channel m, a, b.
template <bool Silu>
__attribute__((target("avx512f"))) void affine_rows_bf16_avx512(const uint16_t* x, uint16_t* y,
                                                                int64_t r0, int64_t r1, int64_t c,
                                                                const float* m, const float* a,
                                                                const float* b) {
  const int64_t full = c / 16 * 16, tail = c - full;
  const __mmask16 k = lanes_avx512(tail);
  for (int64_t r = r0; r < r1; ++r) {
    const uint16_t* in = x + r * c;
    uint16_t* out = y + r * c;
    for (int64_t j = 0; j < full; j += 16) {
      store_bf16_avx512(out + j,
                        affine_avx512<Silu>(load_bf16_avx512(in + j), _mm512_loadu_ps(m + j),
                                            _mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j)));
    }
    if (tail) {
      store_bf16_avx512(out + full,
                        affine_avx512<Silu>(
                            load_bf16_avx512(in + full, tail), _mm512_maskz_loadu_ps(k, m + full),
                            _mm512_maskz_loadu_ps(k, a + full), _mm512_maskz_loadu_ps(k, b + full)),
                        tail);
    }
  }
}

// affine_row for bf16: one run of n values with one m, a, b.
template <bool Silu>
__attribute__((target("avx512f"))) void affine_row_bf16_avx512(const uint16_t* x, uint16_t* y,
                                                               int64_t n, float m, float a,
                                                               float b) {
  const __m512 mv = _mm512_set1_ps(m), av = _mm512_set1_ps(a), bv = _mm512_set1_ps(b);
  const int64_t full = n / 16 * 16;
  for (int64_t i = 0; i < full; i += 16)
    store_bf16_avx512(y + i, affine_avx512<Silu>(load_bf16_avx512(x + i), mv, av, bv));
  if (full < n) {
    store_bf16_avx512(
        y + full, affine_avx512<Silu>(load_bf16_avx512(x + full, n - full), mv, av, bv), n - full);
  }
}

// moments for bf16: blocks of kFlush values summed in float32 lanes, then added into double.
__attribute__((target("avx512f"))) void moments_bf16_run_avx512(const uint16_t* x, int64_t n,
                                                                float shift, double& s1,
                                                                double& s2) {
  for (int64_t i = 0; i < n; i += kFlush) {
    float a = 0, b = 0;
    moments_bf16_avx512(x + i, std::min<int64_t>(kFlush, n - i), _mm512_set1_ps(shift), a, b);
    s1 += a;
    s2 += b;
  }
}

// column_moments for bf16, V vectors of 16 channels from channel j0 on, rows [r0, r1): the sums
// stay in registers for the whole block of rows.
template <int V>
I2V_AVX512 void column_tile_avx512(const uint16_t* x, int64_t r0, int64_t r1, int64_t c, int64_t j0,
                                   const float* shift, double* s1, double* s2) {
  __m512 sh[V], a[V], b[V];
  for (int v = 0; v < V; ++v) {
    sh[v] = _mm512_loadu_ps(shift + j0 + 16 * v);
    a[v] = _mm512_setzero_ps();
    b[v] = _mm512_setzero_ps();
  }
  for (int64_t r = r0; r < r1; ++r) {
    const uint16_t* row = x + r * c + j0;
    for (int v = 0; v < V; ++v) {
      const __m512 d = _mm512_sub_ps(load_bf16_avx512(row + 16 * v), sh[v]);
      a[v] = _mm512_add_ps(a[v], d);
      b[v] = _mm512_fmadd_ps(d, d, b[v]);
    }
  }
  alignas(64) float ta[16], tb[16];
  for (int v = 0; v < V; ++v) {
    _mm512_store_ps(ta, a[v]);
    _mm512_store_ps(tb, b[v]);
    for (int l = 0; l < 16; ++l) {
      s1[j0 + 16 * v + l] += ta[l];
      s2[j0 + 16 * v + l] += tb[l];
    }
  }
}

__attribute__((target("avx512f"))) void column_moments_bf16_avx512(const uint16_t* x, int64_t r0,
                                                                   int64_t r1, int64_t c,
                                                                   const float* shift, double* s1,
                                                                   double* s2) {
  const int64_t full = c / 16 * 16;
  // Blocks of 256 rows (float32 sums flushed into double after each, as column_moments does);
  // a block is read once per tile of 64 channels, from L2 after the first.
  for (int64_t rb = r0; rb < r1; rb += 256) {
    const int64_t re = std::min(r1, rb + 256);
    int64_t j0 = 0;
    for (; j0 + 64 <= full; j0 += 64) column_tile_avx512<4>(x, rb, re, c, j0, shift, s1, s2);
    switch ((full - j0) / 16) {
      case 3:
        column_tile_avx512<3>(x, rb, re, c, j0, shift, s1, s2);
        break;
      case 2:
        column_tile_avx512<2>(x, rb, re, c, j0, shift, s1, s2);
        break;
      case 1:
        column_tile_avx512<1>(x, rb, re, c, j0, shift, s1, s2);
        break;
      default:
        break;
    }
    if (full < c) {  // the last c % 16 channels
      for (int64_t r = rb; r < re; ++r) {
        for (int64_t j = full; j < c; ++j) {
          const float d = load(x + r * c, j) - shift[j];
          s1[j] += d;
          s2[j] += static_cast<double>(d) * d;
        }
      }
    }
  }
}
#pragma GCC diagnostic pop
#endif

bool use_avx512() {
#ifdef I2V_HAVE_AVX512_MATH
  static const bool on = cpu_has_avx512f();
  return on;
#else
  return false;
#endif
}

void affine_rows_bf16_any(const uint16_t* x, uint16_t* y, int64_t r0, int64_t r1, int64_t c,
                          const float* m, const float* a, const float* b, bool silu) {
#ifdef I2V_HAVE_AVX512_MATH
  if (use_avx512()) {
    if (silu) {
      affine_rows_bf16_avx512<true>(x, y, r0, r1, c, m, a, b);
    } else {
      affine_rows_bf16_avx512<false>(x, y, r0, r1, c, m, a, b);
    }
    return;
  }
#endif
  affine_rows_bf16(x, y, r0, r1, c, m, a, b, silu);
}

void affine_row_bf16_any(const uint16_t* x, uint16_t* y, int64_t n, float m, float a, float b,
                         bool silu) {
#ifdef I2V_HAVE_AVX512_MATH
  if (use_avx512()) {
    if (silu) {
      affine_row_bf16_avx512<true>(x, y, n, m, a, b);
    } else {
      affine_row_bf16_avx512<false>(x, y, n, m, a, b);
    }
    return;
  }
#endif
  affine_row_bf16(x, y, n, m, a, b, silu);
}

void column_moments_bf16_any(const uint16_t* x, int64_t r0, int64_t r1, int64_t c, const float* sh,
                             double* s1, double* s2, float* a, float* b) {
#ifdef I2V_HAVE_AVX512_MATH
  if (use_avx512()) {
    column_moments_bf16_avx512(x, r0, r1, c, sh, s1, s2);
    return;
  }
#endif
  column_moments_bf16(x, r0, r1, c, sh, s1, s2, a, b);
}

void moments_any(const void* x, bool bf16, int64_t n, float s, double& a, double& b) {
#ifdef I2V_HAVE_AVX512_MATH
  if (bf16 && use_avx512()) {
    moments_bf16_run_avx512(static_cast<const uint16_t*>(x), n, s, a, b);
    return;
  }
#endif
  if (bf16) {
    moments_bf16(static_cast<const uint16_t*>(x), n, s, a, b);
  } else {
    moments_f32(static_cast<const float*>(x), n, s, a, b);
  }
}

float first_value(const void* x, bool bf16) {
  return bf16 ? load(static_cast<const uint16_t*>(x), 0) : load(static_cast<const float*>(x), 0);
}

std::vector<float> as_floats(const at::Tensor& t, int64_t c, float fill) {
  if (!t.defined()) return std::vector<float>(c, fill);
  at::Tensor f = t.to(at::kFloat).contiguous();
  return std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + c);
}

void check_args(const at::Tensor& x, int64_t c, int64_t groups, const at::Tensor& weight,
                const at::Tensor& bias) {
  if (x.scalar_type() != at::kFloat && x.scalar_type() != at::kBFloat16) {
    throw ShapeError("group_norm kernel: float32 or bfloat16 input expected, got " +
                     std::string(c10::toString(x.scalar_type())));
  }
  if (x.device().type() != at::kCPU) throw ShapeError("group_norm kernel: CPU tensors only");
  if (groups <= 0 || c % groups != 0) {
    throw ShapeError("group_norm kernel: " + std::to_string(c) + " channels cannot be split into " +
                     std::to_string(groups) + " groups");
  }
  for (const at::Tensor* p : {&weight, &bias}) {
    if (p->defined() && p->numel() != c) {
      throw ShapeError("group_norm kernel: weight/bias must have " + std::to_string(c) +
                       " elements, got " + std::to_string(p->numel()));
    }
  }
}

// (N, C, S) contiguous.
void run_channels_first(const at::Tensor& x, at::Tensor& y, int64_t n, int64_t c, int64_t s,
                        int64_t groups, const std::vector<float>& w, const std::vector<float>& b,
                        double eps, bool silu) {
  const bool bf16 = x.scalar_type() == at::kBFloat16;
  const int64_t esize = x.element_size(), cg = c / groups, per_group = cg * s;
  const char* xp = static_cast<const char*>(x.data_ptr());
  char* yp = static_cast<char*>(y.data_ptr());
  std::vector<float> mean(n * groups), rstd(n * groups);
  at::parallel_for(0, n * groups, 1, [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      const void* row = xp + g * per_group * esize;
      // Shift by the first value: the moments then barely cancel even when |mean| >> std.
      const float shift = per_group > 0 ? first_value(row, bf16) : 0.0f;
      double s1 = 0, s2 = 0;
      moments_any(row, bf16, per_group, shift, s1, s2);
      const double m = s1 / per_group;
      const double var = std::max(0.0, s2 / per_group - m * m);
      mean[g] = static_cast<float>(shift + m);
      rstd[g] = static_cast<float>(1.0 / std::sqrt(var + eps));
    }
  });
  at::parallel_for(0, n * c, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t ch = r % c, g = (r / c) * groups + ch / cg;
      const float a = rstd[g] * w[ch];
      if (bf16) {
        affine_row_bf16_any(reinterpret_cast<const uint16_t*>(xp) + r * s,
                            reinterpret_cast<uint16_t*>(yp) + r * s, s, mean[g], a, b[ch], silu);
      } else {
        affine_row_f32(reinterpret_cast<const float*>(xp) + r * s,
                       reinterpret_cast<float*>(yp) + r * s, s, mean[g], a, b[ch], silu);
      }
    }
  });
}

// Memory (N, L, C).
void run_channels_last(const at::Tensor& x, at::Tensor& y, int64_t n, int64_t l, int64_t c,
                       int64_t groups, const std::vector<float>& w, const std::vector<float>& b,
                       double eps, bool silu) {
  const bool bf16 = x.scalar_type() == at::kBFloat16;
  const int64_t cg = c / groups;
  const int threads = std::max(1, at::get_num_threads());
  // Row chunks per n, each with its own partial sums (reduced below in a fixed order).
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(l, 2 * threads));
  const int64_t rows_per = (l + chunks - 1) / chunks;
  std::vector<float> shift(n * c), mean(n * groups), rstd(n * groups);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t off = i * l * c;
    for (int64_t ch = 0; ch < c; ++ch) {
      shift[i * c + ch] =
          l > 0 ? (bf16 ? load(static_cast<const uint16_t*>(x.data_ptr()), off + (ch / cg) * cg)
                        : load(static_cast<const float*>(x.data_ptr()), off + (ch / cg) * cg))
                : 0.0f;
    }
  }
  std::vector<double> s1(n * chunks * c, 0.0), s2(n * chunks * c, 0.0);
  at::parallel_for(0, n * chunks, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> a(c), bb(c);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i = t / chunks, k = t % chunks;
      const int64_t r0 = std::min(l, k * rows_per), r1 = std::min(l, r0 + rows_per);
      if (bf16) {
        column_moments_bf16_any(static_cast<const uint16_t*>(x.data_ptr()) + i * l * c, r0, r1, c,
                                &shift[i * c], &s1[t * c], &s2[t * c], a.data(), bb.data());
      } else {
        column_moments_f32(static_cast<const float*>(x.data_ptr()) + i * l * c, r0, r1, c,
                           &shift[i * c], &s1[t * c], &s2[t * c], a.data(), bb.data());
      }
    }
  });
  const double count = static_cast<double>(l) * cg;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t g = 0; g < groups; ++g) {
      double m1 = 0, m2 = 0;
      for (int64_t k = 0; k < chunks; ++k) {
        for (int64_t ch = g * cg; ch < (g + 1) * cg; ++ch) {
          m1 += s1[(i * chunks + k) * c + ch];
          m2 += s2[(i * chunks + k) * c + ch];
        }
      }
      const double m = count > 0 ? m1 / count : 0.0;
      const double var = count > 0 ? std::max(0.0, m2 / count - m * m) : 0.0;
      mean[i * groups + g] = static_cast<float>(shift[i * c + g * cg] + m);
      rstd[i * groups + g] = static_cast<float>(1.0 / std::sqrt(var + eps));
    }
  }
  std::vector<float> m(n * c), a(n * c);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t ch = 0; ch < c; ++ch) {
      const int64_t g = i * groups + ch / cg;
      m[i * c + ch] = mean[g];
      a[i * c + ch] = rstd[g] * w[ch];
    }
  }
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, c));
  at::parallel_for(0, n * l, grain, [&](int64_t r0, int64_t r1) {
    while (r0 < r1) {  // a chunk may span several n
      const int64_t i = r0 / l, end = std::min(r1, (i + 1) * l);
      if (bf16) {
        affine_rows_bf16_any(static_cast<const uint16_t*>(x.data_ptr()),
                             static_cast<uint16_t*>(y.data_ptr()), r0, end, c, &m[i * c], &a[i * c],
                             b.data(), silu);
      } else {
        affine_rows_f32(static_cast<const float*>(x.data_ptr()), static_cast<float*>(y.data_ptr()),
                        r0, end, c, &m[i * c], &a[i * c], b.data(), silu);
      }
      r0 = end;
    }
  });
}

}  // namespace

bool group_norm_layout_of(const at::Tensor& x, GroupNormLayout& layout) {
  if (x.is_contiguous()) {
    layout = GroupNormLayout::ChannelsFirst;
    return true;
  }
  if (x.dim() < 3) return false;
  // Channels last: C has stride 1 and the positions are dense in row-major order after it.
  if (x.stride(1) != 1) return false;
  int64_t expected = x.size(1);
  for (int64_t d = x.dim() - 1; d >= 2; --d) {
    if (x.size(d) != 1 && x.stride(d) != expected) return false;
    expected *= x.size(d);
  }
  if (x.size(0) != 1 && x.stride(0) != expected) return false;
  layout = GroupNormLayout::ChannelsLast;
  return true;
}

at::Tensor group_norm(const at::Tensor& input, int64_t groups, const at::Tensor& weight,
                      const at::Tensor& bias, double eps, bool silu) {
  RECORD_FUNCTION(silu ? "i2v::group_norm_silu" : "i2v::group_norm",
                  std::vector<c10::IValue>({input}));
  if (!input.defined() || input.dim() < 2) throw ShapeError("group_norm kernel: need (N, C, ...)");
  const int64_t n = input.size(0), c = input.size(1);
  check_args(input, c, groups, weight, bias);
  GroupNormLayout layout;
  at::Tensor x = input;
  if (!group_norm_layout_of(x, layout)) {
    x = x.contiguous();
    layout = GroupNormLayout::ChannelsFirst;
  }
  at::Tensor y = at::empty_like(x);  // keeps x's strides
  const int64_t s = c > 0 && n > 0 ? x.numel() / (n * c) : 0;
  if (x.numel() == 0) return y;
  const auto w = as_floats(weight, c, 1.0f), b = as_floats(bias, c, 0.0f);
  if (layout == GroupNormLayout::ChannelsFirst) {
    run_channels_first(x, y, n, c, s, groups, w, b, eps, silu);
  } else {
    run_channels_last(x, y, n, s, c, groups, w, b, eps, silu);
  }
  return y;
}

at::Tensor group_norm_tokens(const at::Tensor& input, int64_t groups, const at::Tensor& weight,
                             const at::Tensor& bias, double eps, bool silu) {
  RECORD_FUNCTION(silu ? "i2v::group_norm_silu" : "i2v::group_norm",
                  std::vector<c10::IValue>({input}));
  if (!input.defined() || input.dim() != 3) {
    throw ShapeError("group_norm_tokens: need (N, L, C)");
  }
  const int64_t n = input.size(0), l = input.size(1), c = input.size(2);
  check_args(input, c, groups, weight, bias);
  at::Tensor x = input.contiguous();
  at::Tensor y = at::empty_like(x);
  if (x.numel() == 0) return y;
  const auto w = as_floats(weight, c, 1.0f), b = as_floats(bias, c, 0.0f);
  run_channels_last(x, y, n, l, c, groups, w, b, eps, silu);
  return y;
}

}  // namespace i2v::kernels
