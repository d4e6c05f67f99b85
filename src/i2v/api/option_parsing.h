// Reading the option strings of the public API (ModelOptions, PlanOverrides) into the library's
// types. Every error names the option and its allowed values.
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace i2v::api {

// cpu | cuda | cuda:N. Does not check that CUDA is available (the pipeline does; probe can plan
// for a GPU elsewhere).
at::Device parse_device(const std::string& value);
// auto = bf16 where the CPU has fast bf16 (AVX512-BF16 or AMX-BF16), else fp32 — on CUDA, bf16;
// fp16 only for a CUDA device (this CPU has no fast fp16 matrix products).
at::ScalarType parse_precision(const std::string& value, const at::Device& device);
std::string precision_name(at::ScalarType dtype);  // fp32 | bf16 | fp16

}  // namespace i2v::api
