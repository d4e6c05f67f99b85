#include "i2v/kernels/gated_gelu.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <string>

#include "i2v/error.h"
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
  at::parallel_for(0, rows, grain, [&](int64_t r0, int64_t r1) {
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
