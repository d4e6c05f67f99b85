#include "i2v/modelgen/parameter_specs.h"

#include "i2v/modelgen/shape_only_allocation.h"

namespace i2v::modelgen {

int64_t ParamSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<ParamSpec> parameter_specs(
    const std::function<std::shared_ptr<torch::nn::Module>()>& build) {
  std::vector<ParamSpec> specs;
  ShapeOnlyAllocation scope;
  std::shared_ptr<torch::nn::Module> module = build();
  for (const auto& p : module->named_parameters(/*recurse=*/true)) {
    specs.push_back({p.key(), p.value().sizes().vec()});
  }
  for (const auto& b : module->named_buffers(/*recurse=*/true)) {
    specs.push_back({b.key(), b.value().sizes().vec()});
  }
  module.reset();  // frees the aliasing mappings while the scope is still active
  return specs;
}

}  // namespace i2v::modelgen
