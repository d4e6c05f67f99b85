#include "precision.h"

#include <fstream>

#include "i2v/core/error.h"
#include "i2v/core/runtime.h"

namespace i2v::cli {

bool cpu_has_fast_bf16() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) {
      return line.find(" avx512_bf16") != std::string::npos ||
             line.find(" amx_bf16") != std::string::npos;
    }
  }
  return false;
}

at::ScalarType parse_precision(const std::string& p) {
  if (p == "fp32") return at::kFloat;
  if (p == "bf16") return at::kBFloat16;
  if (p == "fp16") {
    if (!cuda_available())
      throw ConfigError("--precision fp16 needs a CUDA device; use bf16 or fp32");
    return at::kHalf;
  }
  if (p == "auto") return cpu_has_fast_bf16() ? at::kBFloat16 : at::kFloat;
  throw ConfigError("--precision must be auto, fp32, bf16 or fp16 (got '" + p + "')");
}

}  // namespace i2v::cli
