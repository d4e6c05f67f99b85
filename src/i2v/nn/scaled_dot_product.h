// Multi-head scaled dot-product attention, softmax(q k^T * scale) v, as a free function on q, k, v
// so that every attention layer shares one memory-bounded implementation.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>

#include "i2v/nn/chunking.h"

namespace i2v::nn {

// q (..., Lq, d), k (..., Lk, d), v (..., Lk, dv) with equal leading dims (typically (N, heads)).
// Returns (..., Lq, dv) in q's dtype. bf16 inputs: both products in bf16 (float32 accumulation;
// the scores are rounded to bf16 once, as in diffusers' bf16 attention), scaling and softmax in
// float32; other dtypes compute in float32. With libtorch >= 2.1 (2.0: only for the default scale
// 1/sqrt(d)) the fused kernel is used instead; it bounds its own memory.
at::Tensor scaled_dot_product(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              double scale);

// The explicit path materialises float32 scores in blocks of at most attention_score_budget()
// elements (chunking.h), split over the leading dims first and then over query rows.

}  // namespace i2v::nn
