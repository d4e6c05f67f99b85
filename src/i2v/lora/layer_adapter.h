// One low-rank adapter on one weight, and the arithmetic every LoRA mode shares:
//   W' = W + scale · up · down    (diffusers/PEFT: W + scale · B · A)
// with up [out, r, 1, ...] and down [r, in, k, ...] (a linear, 1x1/3x3 convolution or the
// temporal (3,1,1) convolution alike), computed in float32 and rounded once to W's dtype.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

namespace i2v::lora {

struct LayerAdapter {
  at::Tensor up;       // [out, r] float32, contiguous
  at::Tensor down;     // [r, in * k...] float32, contiguous
  double scale = 1.0;  // multiplier · alpha / r
};

// Parameter name (as in the model's state dict, "...attn1.to_q.weight") -> its adapters, in the
// order the LoRAs were given.
using ComponentAdapters = std::map<std::string, std::vector<LayerAdapter>>;

// w + Σ scale · up · down, as a new tensor in w's dtype and on w's device (w itself unchanged).
at::Tensor with_deltas(const at::Tensor& w, const std::vector<LayerAdapter>& adapters);

// Bytes of the adapters' tensors.
int64_t adapter_bytes(const ComponentAdapters& adapters);

}  // namespace i2v::lora
