#include "precision.h"

#include "i2v/core/error.h"
#include "i2v/core/runtime.h"
#include "i2v/kernels/cpu_features.h"

namespace i2v::cli {

at::ScalarType parse_precision(const std::string& p) {
  if (p == "fp32") return at::kFloat;
  if (p == "bf16") return at::kBFloat16;
  if (p == "fp16") {
    if (!cuda_available())
      throw ConfigError("--precision fp16 needs a CUDA device; use bf16 or fp32");
    return at::kHalf;
  }
  if (p == "auto") return kernels::cpu_has_fast_bf16() ? at::kBFloat16 : at::kFloat;
  throw ConfigError("--precision must be auto, fp32, bf16 or fp16 (got '" + p + "')");
}

}  // namespace i2v::cli
