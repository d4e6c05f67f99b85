// The two 8-bit float formats of safetensors' F8_E4M3 and F8_E5M2 (OCP FP8, as PyTorch's
// float8_e4m3fn and float8_e5m2): exact decoding to float32 and round-to-nearest-even encoding.
// libtorch 1.13 has no float8 dtypes, so i2v keeps fp8 data as raw bits in uint8 tensors.
//   E4M3 "fn": bias 7, no infinities, NaN = S.1111.111, largest finite 448.
//   E5M2: bias 15, IEEE rules (infinities, NaNs), largest finite 57344.
#pragma once

#include <cstdint>

namespace i2v::io {

enum class Fp8Format { E4M3, E5M2 };

float fp8_max(Fp8Format f);  // 448 or 57344

// Exact value of the bits.
float decode_fp8(uint8_t bits, Fp8Format f);
// The 256 values of a format, indexed by bits (built once).
const float* fp8_table(Fp8Format f);

// Nearest value (ties to even mantissa). Values beyond the largest finite one saturate to it
// (PyTorch's cast gives NaN/inf there; i2v's quantizer never produces such values since scales
// map each channel's largest magnitude onto fp8_max). NaN stays NaN.
uint8_t encode_fp8(float v, Fp8Format f);

// Bulk versions (vectorised): out[i] = decode(in[i]) and out[i] = encode(in[i] * inv) is NOT
// offered — callers scale first, then encode, so the rounding is the single one of encode_fp8.
void decode_fp8(const uint8_t* in, float* out, int64_t n, Fp8Format f);
void encode_fp8(const float* in, uint8_t* out, int64_t n, Fp8Format f);

}  // namespace i2v::io
