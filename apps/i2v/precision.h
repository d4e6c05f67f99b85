// Choosing the compute precision from a --precision value (auto, fp32, bf16, fp16).
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace i2v::cli {

// auto = bf16 where the CPU has fast bf16 (AVX512-BF16 or AMX-BF16, kernels::cpu_has_fast_bf16),
// else fp32; fp16 needs CUDA. ConfigError otherwise.
at::ScalarType parse_precision(const std::string& value);

}  // namespace i2v::cli
