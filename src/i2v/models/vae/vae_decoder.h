// diffusers' vae.Decoder: latent (N, latent_channels, h, w) -> image (N, out_channels, h * s, w *
// s), s = VaeConfig::spatial_scale_factor(). conv_in, mid_block, up_blocks.<i> (UpDecoderBlock2D,
// layers_per_block + 1 resnets each, channels in reversed order), conv_norm_out, SiLU, conv_out.
// The output is not clamped.
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

class VaeDecoderImpl : public torch::nn::Module {
 public:
  explicit VaeDecoderImpl(const VaeConfig& config);
  // Traces "decoder.conv_in.out", "decoder.mid_block.out", "decoder.up_blocks.<i>.out",
  // "decoder.conv_norm_out.out", "decoder.conv_out.out".
  at::Tensor forward(const at::Tensor& z, const TraceFn* trace_fn = nullptr);

  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  VaeMidBlock mid_block{nullptr};
  std::vector<UpDecoderBlock2D> up_block_list;
  nn::GroupNorm32 conv_norm_out{nullptr};
};
TORCH_MODULE(VaeDecoder);

}  // namespace i2v::vae
