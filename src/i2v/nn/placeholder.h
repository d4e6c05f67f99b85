// A parameter-free module that keeps ModuleList indices aligned with the reference's (where it has
// a Dropout or an activation at that index), so that state-dict names match.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace i2v::nn {

class PlaceholderImpl : public torch::nn::Module {
 public:
  at::Tensor forward(const at::Tensor& x) { return x; }
};
TORCH_MODULE(Placeholder);

}  // namespace i2v::nn
