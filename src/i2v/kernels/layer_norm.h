// Fused LayerNorm over the last dimension for float32 and bfloat16 CPU tensors: statistics in
// float32 lanes (flushed into double per row, shifted by the row's first value against
// cancellation), then one affine pass writing x's dtype. Replaces the bf16 -> float32 copy,
// at::layer_norm and the copy back (three passes and two temporaries).
#pragma once

#include <ATen/Tensor.h>

namespace i2v::kernels {

// x (..., C) float32 or bfloat16; weight/bias (C) of any float dtype or undefined. Returns
// (x - mean) / sqrt(var + eps) * weight + bias per row of C, in x's dtype (biased variance,
// as torch.nn.LayerNorm). Throws ShapeError on bad shapes or dtypes.
at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                      double eps);

}  // namespace i2v::kernels
