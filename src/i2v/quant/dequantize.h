// 8-bit weight -> compute dtype: W[o, ...] = scale[o] * decode(q[o, ...]).
//
// Exact: each output element is the float64 product scale·q rounded once to the output dtype
// (round to nearest even). For float32 that is the float32 product itself (correctly rounded);
// for bf16 the float32 product's rounding error (an FMA) breaks the ties a second rounding
// would get wrong. Tests compare against a float64 reference bit for bit.
#pragma once

#include <ATen/ATen.h>

#include "i2v/quant/quantized_weight.h"

namespace i2v::quant {

// `q` on any device (the CPU kernel for float32/bf16 outputs, libtorch ops elsewhere); the
// result is contiguous, on q's device, in `dtype`.
at::Tensor dequantize(const at::Tensor& q, const QuantizedWeight& w, at::ScalarType dtype);

// The weight a product in `dtype` uses: `w` itself, or for an 8-bit weight (quantized_weight.h)
// its dequantized copy. Layers call it through nn::layer_weight (which adds LoRA too).
at::Tensor weight_in(const at::Tensor& w, at::ScalarType dtype);

}  // namespace i2v::quant
