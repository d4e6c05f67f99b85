// 2-D convolutions of bf16 activations through oneDNN's convolution primitive directly, on
// channels-last (NHWC) activations and weights reordered into its blocked layout per call.
//
// Why: libtorch 1.13 runs bf16 NCHW convolutions through ideep with a layout round trip per call;
// in the UNet they ran at 0.41-0.73 TFLOP/s where the brgemm convolution on NHWC reaches
// 0.65-0.88 on the 2-core Zen 4 (reorders included). The output is channels-last, which every
// layer after a convolution reads without a copy (the group norms, the temporal convolutions'
// token-major view, element-wise ops). Same float32 accumulation as libtorch; only the summation
// order inside the kernel differs.
//
// Compiled only with I2V_WITH_ONEDNN (see onednn_gemm.h); I2V_ONEDNN=0 turns it off.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>

namespace i2v::kernels {

// y = conv2d(x, w, bias, stride, padding) with dilation 1 and one group. x: (N, C, H, W) bf16,
// NCHW- or channels-last-contiguous; w: (O, C, kh, kw) bf16 contiguous; bias: (O) bf16/float32
// contiguous or undefined. `persistent_weight`: w is a module's own parameter (or kept by
// derived_weight), so while a PackedWeightScope is open its reordered copy is kept and reused
// (packed_weights.h), and small images qualify too. Returns y channels-last, or an undefined
// tensor, touching nothing, when the call does not qualify (then the caller runs libtorch's
// convolution).
at::Tensor onednn_conv2d(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias,
                         int64_t stride, int64_t padding, bool persistent_weight = false);

}  // namespace i2v::kernels
