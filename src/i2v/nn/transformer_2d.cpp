#include "i2v/nn/transformer_2d.h"

#include "i2v/nn/conv.h"
#include "i2v/nn/linear.h"
#include "i2v/nn/shape_check.h"

namespace i2v::nn {

Transformer2DModelImpl::Transformer2DModelImpl(int64_t in_channels, int64_t heads, int64_t head_dim,
                                               int64_t cross_attention_dim, int64_t norm_num_groups,
                                               int64_t num_layers, bool linear)
    : use_linear_projection(linear) {
  const int64_t inner = heads * head_dim;
  norm = register_module("norm", GroupNorm32(norm_num_groups, in_channels, 1e-6));
  if (linear) {
    proj_in_linear = register_module("proj_in", torch::nn::Linear(in_channels, inner));
  } else {
    proj_in_conv = register_module(
        "proj_in", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, inner, 1)));
  }
  transformer_blocks = register_module("transformer_blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < num_layers; ++i) {
    transformer_blocks->push_back(
        BasicTransformerBlock(inner, heads, head_dim, cross_attention_dim, false, "geglu"));
  }
  if (linear) {
    proj_out_linear = register_module("proj_out", torch::nn::Linear(inner, in_channels));
  } else {
    proj_out_conv = register_module(
        "proj_out", torch::nn::Conv2d(torch::nn::Conv2dOptions(inner, in_channels, 1)));
  }
}

at::Tensor Transformer2DModelImpl::forward(const at::Tensor& x, const at::Tensor& context) {
  require_nchw(x, norm->channels, "spatial transformer");
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  at::Tensor t = norm->forward(x);
  if (!use_linear_projection) t = conv2d(proj_in_conv, t);
  const int64_t inner = t.size(1);
  t = t.permute({0, 2, 3, 1}).reshape({n, h * w, inner});
  if (use_linear_projection) t = linear(proj_in_linear, t);
  // t is this call's own tensor (proj_in's output): the blocks add their residuals into it.
  for (const auto& block : *transformer_blocks) {
    block->as<BasicTransformerBlockImpl>()->forward_in_place(t, context);
  }
  if (use_linear_projection) {
    t = linear(proj_out_linear, t).view({n, h, w, -1}).permute({0, 3, 1, 2});
    // x first: the sum takes x's (N, C, H, W) layout, so the permuted view needs no copy.
    return x + t;
  }
  t = t.view({n, h, w, -1}).permute({0, 3, 1, 2}).contiguous();
  return x + conv2d(proj_out_conv, t);
}

}  // namespace i2v::nn
