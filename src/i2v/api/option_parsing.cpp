#include "i2v/api/option_parsing.h"

#include "i2v/error.h"
#include "i2v/kernels/cpu_features.h"

namespace i2v::api {

at::Device parse_device(const std::string& value) {
  const std::string bad = "--device must be cpu, cuda or cuda:N (got '" + value + "')";
  if (value != "cpu" && value.rfind("cuda", 0) != 0) throw ConfigError(bad);
  try {
    return at::Device(value);
  } catch (const std::exception&) {
    throw ConfigError(bad);  // e.g. "cudax"
  }
}

at::ScalarType parse_precision(const std::string& p, const at::Device& device) {
  if (p == "fp32") return at::kFloat;
  if (p == "bf16") return at::kBFloat16;
  if (p == "fp16") {
    if (!device.is_cuda()) {
      throw ConfigError(
          "--precision fp16 needs --device cuda (this CPU has no fast fp16 matrix products); use "
          "bf16 or fp32");
    }
    return at::kHalf;
  }
  if (p == "auto") {
    if (device.is_cuda()) return at::kBFloat16;
    return kernels::cpu_has_fast_bf16() ? at::kBFloat16 : at::kFloat;
  }
  throw ConfigError("--precision must be auto, fp32, bf16 or fp16 (got '" + p + "')");
}

std::string precision_name(at::ScalarType dtype) {
  if (dtype == at::kBFloat16) return "bf16";
  if (dtype == at::kHalf) return "fp16";
  return "fp32";
}

}  // namespace i2v::api
