// Fused GEGLU activation for float32 and bfloat16 CPU tensors: value * gelu(gate) from the two
// halves of one projection, read once and written once. libtorch 1.13 runs bf16 GELU through a
// float round trip per element on a strided half view, then a second pass for the product: in the
// I2VGen-XL UNet that was ~1 s of a 13 s forward.
#pragma once

#include <ATen/Tensor.h>

namespace i2v::kernels {

// h: (..., 2 * inner), float32 or bfloat16, on CPU. Returns (..., inner) in h's dtype:
// h[..., :inner] * gelu(h[..., inner:]) with the exact (erf) GELU, computed in float32. The erf
// is a branch-free rational approximation (|error| < 2e-7), so against at::gelu in float32 the
// result differs by a few ulp; in bf16 the one rounding at the end is the only one.
at::Tensor gated_gelu(const at::Tensor& h);

// Exact (erf) GELU alone, same precision and dtypes: y = x * 0.5 * (1 + erf(x / sqrt(2))).
at::Tensor gelu(const at::Tensor& x);

}  // namespace i2v::kernels
