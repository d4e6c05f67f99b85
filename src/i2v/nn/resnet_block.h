// diffusers' ResnetBlock2D (pre-norm, SiLU, "default" time-embedding addition):
// out = (shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x))) + proj(silu(temb)))))) / scale.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "i2v/nn/norm.h"

namespace i2v::nn {

class ResnetBlock2DImpl : public torch::nn::Module {
 public:
  // temb_channels 0: no time_emb_proj (VAE).
  ResnetBlock2DImpl(int64_t in_channels, int64_t out_channels, int64_t temb_channels,
                    int64_t groups, double eps, double output_scale_factor = 1.0);
  // x (N, C, H, W); temb (N, temb_channels) or undefined.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& temb = {});

  GroupNorm32 norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
  torch::nn::Linear time_emb_proj{nullptr};
  double output_scale_factor;

 private:
  int64_t in_channels_;
};
TORCH_MODULE(ResnetBlock2D);

}  // namespace i2v::nn
