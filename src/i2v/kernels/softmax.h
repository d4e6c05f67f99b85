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

// The same row kernel on raw buffers (the blocked attention): rows x n float32 scores, row stride
// n, into bf16 probabilities (bit patterns), row stride n. buf holds n floats of scratch.
void scaled_softmax_rows(const float* x, uint16_t* y, int64_t rows, int64_t n, float scale,
                         float* buf);

}  // namespace i2v::kernels
