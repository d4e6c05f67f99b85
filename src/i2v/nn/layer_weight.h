// The weight a layer computes with: its parameter as stored, dequantized when it is 8-bit
// (quant/dequantize.h), plus any LoRA attached at run time (lora/runtime_adapters.h). Every
// linear and convolution of the UNet and CLIP takes its weight through here, made at the point of
// use so that only one layer's copy exists at a time.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <utility>
#include <vector>

namespace i2v::nn {

// `param` itself when nothing applies (no copy); else a new tensor (the dequantized dtype is
// `dtype`; with only a LoRA it keeps the parameter's dtype).
at::Tensor layer_weight(const at::Tensor& param, at::ScalarType dtype);

// For loops that use a module's weights many times (blocks of rows or positions): its 8-bit or
// adapted parameters hold their layer weights for the scope (made once) and get their own data
// back after it. Nothing happens for a module with neither.
class ScopedLayerWeights {
 public:
  // `adapted_only`: only parameters with a runtime LoRA (8-bit ones without one keep being
  // dequantized per call, one layer at a time): for loops over chunks of a whole block, where
  // rebuilding W + B·A per chunk would cost more than holding the block's adapted weights.
  ScopedLayerWeights(torch::nn::Module& module, at::ScalarType dtype, bool adapted_only = false);
  ~ScopedLayerWeights();
  ScopedLayerWeights(const ScopedLayerWeights&) = delete;
  ScopedLayerWeights& operator=(const ScopedLayerWeights&) = delete;

 private:
  std::vector<std::pair<at::Tensor, at::Tensor>> swapped_;  // (parameter, its own data)
};

}  // namespace i2v::nn
