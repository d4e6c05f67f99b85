// LoRA adapters being trained: A (down) and B (up) are leaf tensors that require gradients; the
// base weights stay frozen (no gradients, no optimizer state). A layer with one computes
//   activation form  y = x·Wᵀ + b + scale·(x·Aᵀ)·Bᵀ   (what training runs: saves x·Aᵀ, not W')
//   weight form      y = x·(W + scale·B·A)ᵀ + b        (the reference the tests compare with)
// Keyed like the runtime adapters, by the base weight's TensorImpl.
#pragma once

#include <ATen/ATen.h>

namespace i2v::lora {

struct TrainableAdapter {
  at::Tensor down;  // A [r, in], float32, requires_grad
  at::Tensor up;    // B [out, r], float32, requires_grad
  double scale = 1.0;
  bool weight_form = false;
};

void attach_trainable(const at::Tensor& weight, TrainableAdapter adapter);
void detach_trainable(const at::Tensor& weight);
bool any_trainable_adapters();
// The adapter of `weight`, or null. The pointer stays valid until it is detached.
const TrainableAdapter* trainable_adapter(const at::Tensor& weight);

}  // namespace i2v::lora
