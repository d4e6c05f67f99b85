#include "i2v/models/vae/vae_decoder.h"
#include "i2v/nn/conv.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/container/modulelist.h>

namespace i2v::vae {

VaeDecoderImpl::VaeDecoderImpl(const VaeConfig& config) {
  using torch::nn::Conv2dOptions;
  const std::vector<int64_t> reversed(config.block_out_channels.rbegin(),
                                      config.block_out_channels.rend());
  const int64_t groups = config.norm_num_groups;
  conv_in = register_module(
      "conv_in",
      torch::nn::Conv2d(Conv2dOptions(config.latent_channels, reversed[0], 3).padding(1)));
  mid_block = register_module("mid_block",
                              VaeMidBlock(reversed[0], groups, config.mid_block_add_attention));
  auto blocks = register_module("up_blocks", torch::nn::ModuleList());
  for (size_t i = 0; i < reversed.size(); ++i) {
    const int64_t in = i == 0 ? reversed[0] : reversed[i - 1];
    const bool is_last = i + 1 == reversed.size();
    up_block_list.push_back(
        UpDecoderBlock2D(in, reversed[i], config.layers_per_block + 1, groups, !is_last));
    blocks->push_back(up_block_list.back());
  }
  conv_norm_out = register_module("conv_norm_out",
                                  nn::GroupNorm32(groups, reversed.back(), VaeConfig::kNormEps));
  conv_out = register_module(
      "conv_out",
      torch::nn::Conv2d(Conv2dOptions(reversed.back(), config.out_channels, 3).padding(1)));
}

at::Tensor VaeDecoderImpl::forward(const at::Tensor& z, const TraceFn* trace_fn) {
  at::Tensor h = nn::conv2d(conv_in, z);
  trace(trace_fn, "decoder.conv_in.out", h);
  h = mid_block->forward(h);
  trace(trace_fn, "decoder.mid_block.out", h);
  // diffusers casts to the up blocks' parameter dtype here (they may differ when upcast).
  const at::ScalarType up_dtype =
      up_block_list.front()->resnet_list.front()->conv1->weight.scalar_type();
  if (h.scalar_type() != up_dtype) h = h.to(up_dtype);
  for (size_t i = 0; i < up_block_list.size(); ++i) {
    h = up_block_list[i]->forward(h);
    trace(trace_fn, "decoder.up_blocks." + std::to_string(i) + ".out", h);
  }
  if (trace_fn && *trace_fn) {
    h = conv_norm_out->forward(h);
    trace(trace_fn, "decoder.conv_norm_out.out", h);
    h = at::silu(h);
  } else {
    h = conv_norm_out->forward_silu(h);  // one pass instead of two
  }
  h = nn::conv2d(conv_out, h);
  trace(trace_fn, "decoder.conv_out.out", h);
  return h;
}

}  // namespace i2v::vae
