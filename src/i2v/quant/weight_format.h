// The 8-bit weight formats of `i2v quantize` and how they are stored in safetensors.
//
// A quantized weight W [out, ...] is stored as two tensors:
//   "<name>"        q, 8-bit, same shape as W:  I8 (int8), F8_E4M3 or F8_E5M2
//   "<name>_scale"  s, F32 [out]: one scale per output channel (row of W)
// and means W[o, ...] = s[o] * q[o, ...] (q decoded exactly: an integer, or an fp8 value).
// fp8 files published without scales (ComfyUI / diffusers layerwise-casting exports) load with
// s = 1. The file's "__metadata__" says the scheme under "i2v_quantization" (informative; the
// loader goes by the dtypes).
#pragma once

#include <optional>
#include <string>

#include "i2v/io/fp8.h"
#include "i2v/io/safetensors_header.h"

namespace i2v::quant {

enum class WeightFormat { Int8, Fp8E4M3, Fp8E5M2 };

// "int8", "fp8-e4m3", "fp8-e5m2"; parse throws ConfigError listing the choices.
std::string to_string(WeightFormat f);
WeightFormat parse_weight_format(const std::string& s);

io::StDType stored_dtype(WeightFormat f);              // I8, F8_E4M3, F8_E5M2
std::optional<WeightFormat> format_of(io::StDType t);  // nullopt for other dtypes
io::Fp8Format fp8_format(WeightFormat f);              // E4M3/E5M2 (not for Int8)
float max_magnitude(WeightFormat f);                   // 127, 448, 57344

// The suffix of a quantized tensor's scale: "<name>" + kScaleSuffix.
inline constexpr const char* kScaleSuffix = "_scale";
// The metadata key naming the scheme in a quantized file.
inline constexpr const char* kMetadataKey = "i2v_quantization";

}  // namespace i2v::quant
