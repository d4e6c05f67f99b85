// Multi-head scaled dot-product attention, softmax(q k^T * scale) v, as a free function on q, k, v
// so that every attention layer shares one memory-bounded implementation.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>

namespace i2v::nn {

// q (..., Lq, d), k (..., Lk, d), v (..., Lk, dv) with equal leading dims (typically (N, heads)).
// Returns (..., Lq, dv) in q's dtype. Scores, softmax and the weighted sum run in float32 (bf16
// scores lose ~3 significant digits before the exponential). With libtorch >= 2.1 (2.0: only for
// the default scale 1/sqrt(d)) the fused kernel is used instead; it bounds its own memory.
at::Tensor scaled_dot_product(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              double scale);

// The explicit path materialises float32 score blocks of at most this many elements (per call,
// over all leading dims), splitting over the leading dims first and then over query rows. Full
// I2VGen-XL frames (88x160 latents = 14080 positions) would otherwise need ~800 MB per head.
// Default 1 << 26 (256 MiB of scores; the peak is about twice that: scores plus probabilities).
// Values < 1 are clamped to 1 (one query row per block). Process-wide; set it before running.
void set_attention_score_budget(int64_t max_score_elements);
int64_t attention_score_budget();

}  // namespace i2v::nn
