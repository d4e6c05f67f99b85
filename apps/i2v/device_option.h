// Choosing where the networks compute from a --device value (cpu, cuda, cuda:N).
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace i2v::cli {

// ConfigError naming --device for anything else. Does not check that CUDA is available (the
// pipeline does, and probe can plan for a GPU elsewhere).
at::Device parse_device(const std::string& value);

}  // namespace i2v::cli
