// diffusers' TransformerTemporalModel: attention across the frames at each spatial position (the
// UNet's "temp_attentions.*" and "transformer_in"). GroupNorm statistics span all frames.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "i2v/nn/basic_transformer_block.h"
#include "i2v/nn/norm.h"

namespace i2v::nn {

class TransformerTemporalModelImpl : public torch::nn::Module {
 public:
  TransformerTemporalModelImpl(int64_t in_channels, int64_t heads, int64_t head_dim,
                               int64_t norm_num_groups, int64_t num_layers = 1,
                               bool double_self_attention = true, int64_t cross_attention_dim = 0);
  // x (B*F, C, H, W), frames of each batch item consecutive -> same shape.
  at::Tensor forward(const at::Tensor& x, int64_t num_frames);

  GroupNorm32 norm{nullptr};
  torch::nn::Linear proj_in{nullptr}, proj_out{nullptr};
  torch::nn::ModuleList transformer_blocks{nullptr};
};
TORCH_MODULE(TransformerTemporalModel);

}  // namespace i2v::nn
