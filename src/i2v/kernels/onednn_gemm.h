// Matrix products of bf16 activations with bf16 weights through oneDNN's matmul primitive
// directly, with the weights reordered into the blocked layout its AVX512-BF16/AMX kernels want.
//
// Why: libtorch 1.13 sends bf16 addmm to oneDNN's BLAS-style gemm on the plain layout; in the
// UNet that ran at 0.50-0.63 TFLOP/s on the 2-core Zen 4, where the matmul primitive on reordered
// weights reaches 0.78-0.84 (reorder included, once per call). Exact in the sense of the project:
// the same products accumulated in float32 and rounded once to bf16, like libtorch; only the
// summation order inside the kernel differs (tests/kernels state the error against float64).
//
// Built only when CMake finds oneDNN and libtorch links the same shared library
// (I2V_WITH_ONEDNN); otherwise, or with I2V_ONEDNN=0 in the environment, every call returns false
// and the caller uses libtorch.
#pragma once

#include <ATen/Tensor.h>

#include <functional>

namespace i2v::kernels {

// Whether onednn_gemm() can run at all in this build and process.
bool onednn_gemm_enabled();

// out = x . w^T (+ bias) when accumulate is false; out += x . w^T (+ bias) when true.
// x: (M, K) bf16, unit column stride; w: (N, K) bf16, any strides (a weight or a view of one);
// bias: (N) bf16 or float32 contiguous, or undefined; out: (M, N) bf16, unit column stride.
// `persistent_weight`: w is a module's own parameter (or a view of one), so while a
// PackedWeightScope is open its reordered copy is kept and reused (packed_weights.h), and small M
// qualifies too. Returns false, touching nothing, when the call does not qualify (dtypes, layouts,
// small M where the weight reorder would dominate, oneDNN unavailable): the caller then computes
// it itself.
bool onednn_gemm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias, at::Tensor& out,
                 bool accumulate, bool persistent_weight = false);

// out = x . w^T (+ bias) where w (n, k) = rows_of() is a rearrangement of the persistent
// `weight` (a convolution kernel as rows of a product): only while a PackedWeightScope is open,
// whose kept packed copy (under `weight`) makes rows_of() run once. False, touching nothing,
// when the call does not qualify (no scope, dtypes, layouts).
bool onednn_gemm_rearranged(const at::Tensor& x, const at::Tensor& weight, int64_t n,
                            const std::function<at::Tensor()>& rows_of, const at::Tensor& bias,
                            at::Tensor& out);

}  // namespace i2v::kernels
