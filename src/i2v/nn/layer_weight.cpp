#include "i2v/nn/layer_weight.h"

#include "i2v/lora/runtime_adapters.h"
#include "i2v/quant/dequantize.h"

namespace i2v::nn {

at::Tensor layer_weight(const at::Tensor& param, at::ScalarType dtype) {
  at::Tensor w = quant::weight_in(param, dtype);
  if (!lora::any_runtime_adapters()) return w;
  if (auto adapters = lora::runtime_adapters(param)) return lora::with_deltas(w, *adapters);
  return w;
}

ScopedLayerWeights::ScopedLayerWeights(torch::nn::Module& module, at::ScalarType dtype,
                                       bool adapted_only) {
  if (adapted_only && !lora::any_runtime_adapters()) return;
  for (auto& p : module.parameters(true)) {
    if (adapted_only && !lora::runtime_adapters(p)) continue;
    at::Tensor w = layer_weight(p, dtype);
    if (w.is_same(p)) continue;
    at::Tensor own = p.variable_data();
    p.set_data(w);
    lora::set_suspended(p, true);  // W' is in the parameter now: not again on top
    swapped_.emplace_back(p, std::move(own));
  }
}

ScopedLayerWeights::~ScopedLayerWeights() {
  for (auto& [param, own] : swapped_) {
    param.set_data(own);
    lora::set_suspended(param, false);
  }
}

}  // namespace i2v::nn
