// softmax(scale * x) over the last dimension in float32, reading float32 or bf16 scores and
// writing float32 or bf16 probabilities in one pass per row (the attention path: bf16 scores from
// a bf16 product, float32 softmax, bf16 probabilities for the second product). Replaces the
// to(float) + mul + softmax + to(bf16) chain of four passes.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>

namespace i2v::kernels {

// x: (..., L) contiguous float32 or bfloat16 on the CPU. Returns the same shape in out_dtype
// (float32 or bfloat16). Rows whose values are all -inf give NaN, as at::softmax does.
at::Tensor scaled_softmax(const at::Tensor& x, double scale, at::ScalarType out_dtype);

// The blocked attention's row kernel on raw buffers: rows x n float32 scores x (row stride n)
// into e = exp(scale * (x - max of the row)) as bf16 bit patterns (row stride n), unnormalised,
// and inv_sum[r] = 1 / (sum of the row's float32 exponentials). The caller divides its product
// e.v by the sum (rows of the output, not n probabilities): one pass over the scores fewer than
// normalising them. scale > 0; -inf scores give 0.
void softmax_exp_rows(const float* x, uint16_t* e, float* inv_sum, int64_t rows, int64_t n,
                      float scale);

}  // namespace i2v::kernels
