// softmax(q k^T * scale) v for bf16 q, k, v on the CPU, computed block by block so that the
// scores never leave the cache: each worker thread packs a group of (batch, head) entries' k and v
// once, then for each block of query rows runs q.k^T into float32 scores (oneDNN matmul, float32
// accumulation), their exponentials exp(scale * (s - row max)) into bf16 with each row's sum
// (softmax_exp_rows), and e.v (oneDNN matmul, float32) divided by the sums and rounded to bf16
// into its rows of the output: normalising the output rows instead of the probabilities saves a
// pass over the scores.
//
// Why: the plain path writes all scores to memory in bf16 (80 heads x 1024 x 1024 at the UNet's
// first level: 168 MB), reads them back for the softmax, writes the probabilities and reads them
// again; on a CPU whose products are fast (AMX) that traffic, not the arithmetic, set the time
// (0.11-0.16 TFLOP/s). Here the scores of one block stay in L2.
//
// Precision: the products accumulate in float32 like the plain path; the scores are not rounded
// to bf16 before the softmax (the plain path rounds them), so the result is at least as close to
// float64 (tests/kernels state the error). Not bit-identical to the plain path.
//
// Built with I2V_WITH_ONEDNN only; I2V_FUSED_ATTENTION=0 (or I2V_ONEDNN=0) turns it off.
#pragma once

#include <ATen/Tensor.h>

namespace i2v::kernels {

// Whether onednn_attention() can run at all in this build and process.
bool onednn_attention_enabled();

// q (N, H, Lq, d), k (N, H, Lk, d), v (N, H, Lk, dv): bf16 CPU tensors, any strides with a unit
// last stride (typically the (N, L, H, d) views of projections). Returns (N, H, Lq, dv) bf16 whose
// memory is (N, Lq, H, dv) contiguous, so transpose(1, 2) of it is a free view. Returns an
// undefined tensor when the call does not qualify (the caller then uses the plain path).
at::Tensor onednn_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            double scale);

}  // namespace i2v::kernels
