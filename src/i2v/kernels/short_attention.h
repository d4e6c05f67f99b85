// softmax(q k^T * scale) v for short sequences (at most 16 queries and 16 keys per entry: the
// UNet's temporal attention over the frames), one (batch, head) entry at a time with everything
// in registers and L1: the scores are dot products in float32, the softmax float32, and the
// probabilities stay float32 for the second product; the output is rounded to bf16 once.
//
// Why: the blocked oneDNN attention (onednn_attention.h) builds its work from matmul primitives
// whose fixed cost per call dwarfs 8 x 8 products; on the 2-vCPU Xeon the temporal attention ran
// at 0.01-0.02 TFLOP/s, ~0.36 s of a 2-step generation.
//
// Precision: float32 accumulation of exact bf16 products, as the other paths; the probabilities
// are not rounded to bf16 (the other paths round them), so the result is at least as close to
// float64 (tests/kernels state the error). Not bit-identical to the other paths.
#pragma once

#include <ATen/Tensor.h>

namespace i2v::kernels {

// Whether short_attention() can run at all on this CPU (AVX-512) and process
// (I2V_SHORT_ATTENTION=0 turns it off).
bool short_attention_enabled();

// q (N, H, Lq, d), k (N, H, Lk, d), v (N, H, Lk, dv): bf16 CPU tensors, any strides with a unit
// last stride, Lq and Lk at most 16, d and dv multiples of 16 up to 256. Returns (N, H, Lq, dv)
// bf16 whose memory is (N, Lq, H, dv) contiguous (transpose(1, 2) of it is a free view), or an
// undefined tensor when the call does not qualify (the caller then uses another path).
at::Tensor short_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           double scale);

}  // namespace i2v::kernels
