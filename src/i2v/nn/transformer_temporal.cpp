#include "i2v/nn/transformer_temporal.h"

#include "i2v/nn/linear.h"
#include "i2v/nn/shape_check.h"

namespace i2v::nn {

TransformerTemporalModelImpl::TransformerTemporalModelImpl(
    int64_t in_channels, int64_t heads, int64_t head_dim, int64_t norm_num_groups,
    int64_t num_layers, bool double_self_attention, int64_t cross_attention_dim) {
  const int64_t inner = heads * head_dim;
  norm = register_module("norm", GroupNorm32(norm_num_groups, in_channels, 1e-6));
  proj_in = register_module("proj_in", torch::nn::Linear(in_channels, inner));
  transformer_blocks = register_module("transformer_blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < num_layers; ++i) {
    transformer_blocks->push_back(BasicTransformerBlock(inner, heads, head_dim, cross_attention_dim,
                                                        double_self_attention, "geglu"));
  }
  proj_out = register_module("proj_out", torch::nn::Linear(inner, in_channels));
}

at::Tensor TransformerTemporalModelImpl::forward(const at::Tensor& x, int64_t num_frames) {
  require_nchw(x, norm->channels, "temporal transformer");
  const int64_t bf = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t b = require_frames(x, num_frames, "temporal transformer");
  // Sequences over frames (B*H*W, F, C), made by one transposing copy; the group norm's statistics
  // (per batch item and group, over all frames and positions) do not depend on the token order,
  // so it runs on the (B, H*W*F, C) tokens directly.
  at::Tensor t = x.reshape({b, num_frames, c, h * w}).permute({0, 3, 1, 2}).reshape({b, -1, c});
  t = norm->forward_tokens(t).view({b * h * w, num_frames, c});
  t = linear(proj_in, t);
  // t is this call's own tensor (proj_in's output): the blocks add their residuals into it.
  for (const auto& block : *transformer_blocks) {
    block->as<BasicTransformerBlockImpl>()->forward_in_place(t);
  }
  t = linear(proj_out, t).view({b, h, w, num_frames, c}).permute({0, 3, 4, 1, 2});  // (B,F,C,H,W)
  // x first: the sum takes x's layout, so the permuted view is read in place instead of copied.
  return (x.reshape({b, num_frames, c, h, w}) + t).view({bf, c, h, w});
}

}  // namespace i2v::nn
