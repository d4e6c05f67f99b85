// diffusers' vae.Encoder with double_z: image (N, in_channels, H, W) -> moments
// (N, 2 * latent_channels, H / s, W / s), s = VaeConfig::spatial_scale_factor().
// conv_in, down_blocks.<i> (DownEncoderBlock2D), mid_block, conv_norm_out, SiLU, conv_out.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "i2v/models/vae/vae_blocks.h"
#include "i2v/models/vae/vae_config.h"
#include "i2v/models/vae/vae_trace.h"
#include "i2v/nn/norm.h"

namespace i2v::vae {

class VaeEncoderImpl : public torch::nn::Module {
 public:
  explicit VaeEncoderImpl(const VaeConfig& config);
  // Traces "encoder.conv_in.out", "encoder.down_blocks.<i>.out", "encoder.mid_block.out",
  // "encoder.conv_norm_out.out", "encoder.conv_out.out".
  at::Tensor forward(const at::Tensor& x, const TraceFn* trace_fn = nullptr);

  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  std::vector<DownEncoderBlock2D> down_block_list;
  VaeMidBlock mid_block{nullptr};
  nn::GroupNorm32 conv_norm_out{nullptr};
};
TORCH_MODULE(VaeEncoder);

}  // namespace i2v::vae
