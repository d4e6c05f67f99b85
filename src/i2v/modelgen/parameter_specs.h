// Names and shapes of a module's parameters and buffers, learned without allocating its memory.
#pragma once

#include <torch/nn/module.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace i2v::modelgen {

struct ParamSpec {
  std::string name;
  std::vector<int64_t> shape;
  int64_t numel() const;
};

// Constructs the module with `build` under ShapeOnlyAllocation and lists its parameters, then its
// buffers, in registration order. Peak memory is about the largest single tensor.
std::vector<ParamSpec> parameter_specs(
    const std::function<std::shared_ptr<torch::nn::Module>()>& build);

}  // namespace i2v::modelgen
