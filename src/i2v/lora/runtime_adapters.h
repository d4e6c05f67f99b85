// Unmerged LoRA: adapters attached to parameters at run time, applied where each layer takes its
// weight for a product (nn::layer_weight), so the stored weights are never changed. This is what
// works with 8-bit, memory-mapped and streamed weights alike; the cost is one weight-sized
// float32 pass per layer call (cheaper than B·(A·x) whenever a call has more rows than about
// in·out/(in+out), which every UNet and CLIP call here has).
//
// Keyed by the parameter's TensorImpl: staging (set_data) and casts keep it, so an attachment
// holds while a model's weights move between host, device and precisions.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <vector>

#include "i2v/lora/layer_adapter.h"

namespace i2v::lora {

void attach_runtime(const at::Tensor& param, std::vector<LayerAdapter> adapters);
void detach_runtime(const at::Tensor& param);

// False while nothing is attached anywhere (no lock taken: the common case costs one load).
bool any_runtime_adapters();

// The adapters attached to `param` (null when none, or while suspended).
std::shared_ptr<const std::vector<LayerAdapter>> runtime_adapters(const at::Tensor& param);

// While a loop holds a layer's effective weight in the parameter itself (nn::ScopedLayerWeights),
// its adapters must not be added a second time.
void set_suspended(const at::Tensor& param, bool suspended);

}  // namespace i2v::lora
