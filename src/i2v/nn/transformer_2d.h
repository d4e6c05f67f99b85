// diffusers' Transformer2DModel for continuous input with conv projections (the UNet's spatial
// "attentions.*"): GroupNorm(eps 1e-6) -> proj_in -> transformer blocks over the H*W positions of
// each image -> proj_out -> + input. The projections are Linear layers on (N, HW, C) when
// use_linear_projection (I2VGen-XL's choice) and 1x1 convolutions otherwise.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "i2v/nn/basic_transformer_block.h"
#include "i2v/nn/norm.h"

namespace i2v::nn {

class Transformer2DModelImpl : public torch::nn::Module {
 public:
  Transformer2DModelImpl(int64_t in_channels, int64_t heads, int64_t head_dim,
                         int64_t cross_attention_dim, int64_t norm_num_groups,
                         int64_t num_layers = 1, bool use_linear_projection = true);
  // x (N, C, H, W); context (N, L, cross_attention_dim) or one per video (nn/attention.h).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context);

  GroupNorm32 norm{nullptr};
  bool use_linear_projection;
  torch::nn::Conv2d proj_in_conv{nullptr}, proj_out_conv{nullptr};
  torch::nn::Linear proj_in_linear{nullptr}, proj_out_linear{nullptr};
  torch::nn::ModuleList transformer_blocks{nullptr};
};
TORCH_MODULE(Transformer2DModel);

}  // namespace i2v::nn
