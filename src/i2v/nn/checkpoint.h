// Gradient checkpointing, exact: a checkpointed layer keeps only its inputs for the backward pass
// and runs its forward again there (with the same ops, so the same numbers) to get the gradients.
// Memory of training falls to the layers' inputs plus one layer's activations, at the cost of
// one more forward. Layers are wrapped where the UNet blocks call them (models/unet/
// chunked_layers.cpp) while a ScopedCheckpointing is alive.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <vector>

namespace i2v::nn {

class ScopedCheckpointing {
 public:
  // `params`: the tensors being trained (their gradients flow through every checkpoint).
  // Only layers whose input has at least `min_positions` spatial positions (h * w) are
  // checkpointed: 0 = every layer; the UNet's full latent size = its highest-resolution level
  // only, which holds most of the activation memory for a fraction of the recompute.
  explicit ScopedCheckpointing(std::vector<at::Tensor> params, int64_t min_positions = 0);
  ~ScopedCheckpointing();
  ScopedCheckpointing(const ScopedCheckpointing&) = delete;
  ScopedCheckpointing& operator=(const ScopedCheckpointing&) = delete;
};

// True inside a ScopedCheckpointing with grad mode on.
bool checkpointing_active();
// checkpointing_active() and the layer input `x` (.., h, w) is large enough to be checkpointed.
bool checkpointing_active_for(const at::Tensor& x);

using LayerFn = std::function<at::Tensor(const std::vector<at::Tensor>& inputs)>;

// fn(inputs) without keeping its activations (see above). Undefined inputs are allowed.
at::Tensor checkpointed(const LayerFn& fn, const std::vector<at::Tensor>& inputs);

}  // namespace i2v::nn
