// diffusers' BasicTransformerBlock (norm_type "layer_norm"): self-attention, then cross-attention
// (or a second self-attention), then the feed-forward, each pre-normed and residual.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <string>

#include "i2v/nn/attention.h"
#include "i2v/nn/feed_forward.h"
#include "i2v/nn/norm.h"

namespace i2v::nn {

class BasicTransformerBlockImpl : public torch::nn::Module {
 public:
  BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t head_dim,
                            int64_t cross_attention_dim, bool double_self_attention = false,
                            const std::string& activation = "geglu");
  // x (N, L, dim); context (N, Lc, cross_attention_dim) or one per video (nn/attention.h) for the
  // cross-attention, else undefined.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context = {});
  // The same for a caller that owns x (no other reader): all three residuals add into x itself,
  // the output projections accumulating there (linear_add_into). Under autograd x is replaced by
  // new tensors instead.
  void forward_in_place(at::Tensor& x, const at::Tensor& context = {});

  LayerNorm32 norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  Attention attn1{nullptr}, attn2{nullptr};
  FeedForward ff{nullptr};
};
TORCH_MODULE(BasicTransformerBlock);

}  // namespace i2v::nn
