// Training (LoRA) runs the same layers with libtorch's autograd. The fused kernels (oneDNN
// products and convolutions, fused norms, GELU, softmax) have no backward, so each layer asks
// this first and takes libtorch's differentiable ops while a graph is being recorded through x.
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

namespace i2v::nn {

inline bool needs_graph(const at::Tensor& x) {
  return x.defined() && x.requires_grad() && at::GradMode::is_enabled();
}

}  // namespace i2v::nn
