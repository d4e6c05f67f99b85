// Float weight -> 8-bit weight with one scale per output channel (dim 0): symmetric,
// scale[o] = max|W[o, ...]| / max_magnitude(format) (1 for an all-zero row), q = round(W / scale)
// to the nearest int8 in [-127, 127] or the nearest fp8 value (ties to even). Approximate by
// nature; dequantize() then reproduces scale·q exactly.
#pragma once

#include <ATen/ATen.h>

#include "i2v/quant/weight_format.h"

namespace i2v::quant {

struct QuantizedTensor {
  at::Tensor q;      // int8, or uint8 fp8 bits; w's shape
  at::Tensor scale;  // float32 [out]
};

// `w`: a floating-point CPU tensor with at least 2 dimensions.
QuantizedTensor quantize_per_channel(const at::Tensor& w, WeightFormat format);

}  // namespace i2v::quant
