// diffusers' Downsample2D (3x3 conv, stride 2) and Upsample2D (nearest x2, then 3x3 conv).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <optional>
#include <vector>

namespace i2v::nn {

class Downsample2DImpl : public torch::nn::Module {
 public:
  // padding 1 (UNet); padding 0 (VAE) pads right and bottom by one first, as the reference does.
  Downsample2DImpl(int64_t channels, int64_t out_channels, int64_t padding);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Conv2d conv{nullptr};
  int64_t padding;
};
TORCH_MODULE(Downsample2D);

class Upsample2DImpl : public torch::nn::Module {
 public:
  Upsample2DImpl(int64_t channels, int64_t out_channels);
  // output_size: explicit (H, W) after upsampling (for odd skip sizes); default doubles.
  at::Tensor forward(const at::Tensor& x,
                     const std::optional<std::vector<int64_t>>& output_size = std::nullopt);
  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(Upsample2D);

}  // namespace i2v::nn
