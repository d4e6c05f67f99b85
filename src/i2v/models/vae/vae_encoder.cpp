#include "i2v/models/vae/vae_encoder.h"
#include "i2v/nn/conv.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/container/modulelist.h>

namespace i2v::vae {

VaeEncoderImpl::VaeEncoderImpl(const VaeConfig& config) {
  using torch::nn::Conv2dOptions;
  const auto& channels = config.block_out_channels;
  const int64_t groups = config.norm_num_groups;
  conv_in = register_module(
      "conv_in", torch::nn::Conv2d(Conv2dOptions(config.in_channels, channels[0], 3).padding(1)));
  auto blocks = register_module("down_blocks", torch::nn::ModuleList());
  for (size_t i = 0; i < channels.size(); ++i) {
    const int64_t in = i == 0 ? channels[0] : channels[i - 1];
    const bool is_last = i + 1 == channels.size();
    down_block_list.push_back(
        DownEncoderBlock2D(in, channels[i], config.layers_per_block, groups, !is_last));
    blocks->push_back(down_block_list.back());
  }
  mid_block = register_module("mid_block",
                              VaeMidBlock(channels.back(), groups, config.mid_block_add_attention));
  conv_norm_out = register_module("conv_norm_out",
                                  nn::GroupNorm32(groups, channels.back(), VaeConfig::kNormEps));
  conv_out = register_module(
      "conv_out",
      torch::nn::Conv2d(Conv2dOptions(channels.back(), 2 * config.latent_channels, 3).padding(1)));
}

at::Tensor VaeEncoderImpl::forward(const at::Tensor& x, const TraceFn* trace_fn) {
  at::Tensor h = nn::conv2d(conv_in, x);
  trace(trace_fn, "encoder.conv_in.out", h);
  for (size_t i = 0; i < down_block_list.size(); ++i) {
    h = down_block_list[i]->forward(h);
    trace(trace_fn, "encoder.down_blocks." + std::to_string(i) + ".out", h);
  }
  h = mid_block->forward(h);
  trace(trace_fn, "encoder.mid_block.out", h);
  h = conv_norm_out->forward(h);
  trace(trace_fn, "encoder.conv_norm_out.out", h);
  h = nn::conv2d(conv_out, at::silu(h));
  trace(trace_fn, "encoder.conv_out.out", h);
  return h;
}

}  // namespace i2v::vae
