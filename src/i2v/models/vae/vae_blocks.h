// The three block kinds of the KL autoencoder (diffusers unet_2d_blocks.py): DownEncoderBlock2D,
// UpDecoderBlock2D and the mid block UNetMidBlock2D (resnet, optional attention, resnet). No time
// embedding anywhere; every GroupNorm has VaeConfig::kNormEps.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "i2v/nn/attention.h"
#include "i2v/nn/resnet_block.h"
#include "i2v/nn/sampling.h"

namespace i2v::vae {

// `num_layers` resnets (the first maps in -> out channels), then, unless it is the last level,
// "downsamplers.0": pad right/bottom by one, 3x3 conv stride 2 (padding 0).
class DownEncoderBlock2DImpl : public torch::nn::Module {
 public:
  DownEncoderBlock2DImpl(int64_t in_channels, int64_t out_channels, int64_t num_layers,
                         int64_t groups, bool add_downsample);
  at::Tensor forward(const at::Tensor& x);

  std::vector<nn::ResnetBlock2D> resnet_list;
  nn::Downsample2D downsampler{nullptr};
};
TORCH_MODULE(DownEncoderBlock2D);

// `num_layers` resnets (the first maps in -> out channels), then, unless it is the last level,
// "upsamplers.0": nearest x2, 3x3 conv.
class UpDecoderBlock2DImpl : public torch::nn::Module {
 public:
  UpDecoderBlock2DImpl(int64_t in_channels, int64_t out_channels, int64_t num_layers,
                       int64_t groups, bool add_upsample);
  at::Tensor forward(const at::Tensor& x);

  std::vector<nn::ResnetBlock2D> resnet_list;
  nn::Upsample2D upsampler{nullptr};
};
TORCH_MODULE(UpDecoderBlock2D);

// resnets.0, attentions.0 (single head over all positions, GroupNorm first, residual; absent when
// `add_attention` is false), resnets.1 — all at `channels`.
class VaeMidBlockImpl : public torch::nn::Module {
 public:
  VaeMidBlockImpl(int64_t channels, int64_t groups, bool add_attention);
  at::Tensor forward(const at::Tensor& x);

  nn::ResnetBlock2D resnet0{nullptr}, resnet1{nullptr};
  nn::Attention attention{nullptr};
};
TORCH_MODULE(VaeMidBlock);

}  // namespace i2v::vae
