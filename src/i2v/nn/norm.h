// Normalisation layers that always compute in float32: under bf16/fp16 activations the statistics
// (means of squares over thousands of elements) lose too much precision in 8-bit mantissas.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace i2v::nn {

// GroupNorm over (N, C, ...) of any rank: for 5-D (B, C, F, H, W) the statistics of a group span
// its channels and all frames and positions (what the temporal layers need).
class GroupNorm32Impl : public torch::nn::Module {
 public:
  GroupNorm32Impl(int64_t num_groups, int64_t channels, double eps, bool affine = true);
  at::Tensor forward(const at::Tensor& x);
  // silu(forward(x)) in one pass.
  at::Tensor forward_silu(const at::Tensor& x);
  // x (N, L, C): statistics per (n, group) over all L tokens (what forward does on the
  // (N, C, L) transpose), without the transposes. Returns (N, L, C) contiguous.
  at::Tensor forward_tokens(const at::Tensor& x, bool silu = false);

  int64_t num_groups, channels;
  double eps;
  at::Tensor weight, bias;  // (C); undefined when not affine

 private:
  bool uses_kernel(const at::Tensor& x) const;
  at::Tensor normalize(const at::Tensor& x, bool silu);
};
TORCH_MODULE(GroupNorm32);

// LayerNorm over the last dimension.
class LayerNorm32Impl : public torch::nn::Module {
 public:
  LayerNorm32Impl(int64_t dim, double eps, bool affine = true);
  at::Tensor forward(const at::Tensor& x);

  int64_t dim;
  double eps;
  at::Tensor weight, bias;
};
TORCH_MODULE(LayerNorm32);

}  // namespace i2v::nn
