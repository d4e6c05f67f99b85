// 8-bit weights inside ordinary modules. A quantized parameter's data is the file's 8-bit bytes
// (int8, or the raw fp8 bits as uint8: libtorch 1.13 has no float8 dtypes) and keeps the
// parameter's shape; its format and per-output-channel scales are recorded here, keyed by the
// tensor's storage, so whoever stages the weights for compute (memory::WeightStager) can
// dequantize them without the modules knowing. The record lives as long as the storage does.
#pragma once

#include <ATen/ATen.h>

#include <optional>

#include "i2v/quant/weight_format.h"

namespace i2v::quant {

struct QuantizedWeight {
  WeightFormat format = WeightFormat::Int8;
  at::Tensor scale;  // float32 [out], contiguous, on the CPU
};

// Records that `q` (int8 for Int8, uint8 fp8 bits otherwise; dim 0 = output channels) is an 8-bit
// weight. Throws ShapeError when the dtype or the scale's size does not fit.
void mark_quantized(const at::Tensor& q, QuantizedWeight info);

// The record of `t`'s storage (and data pointer), or nullopt for an ordinary tensor.
std::optional<QuantizedWeight> quantization_of(const at::Tensor& t);

// The libtorch dtype that holds a format's bytes (kChar or kByte).
at::ScalarType holding_dtype(WeightFormat f);

}  // namespace i2v::quant
