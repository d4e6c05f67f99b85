#include "i2v/nn/basic_transformer_block.h"

namespace i2v::nn {

BasicTransformerBlockImpl::BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t head_dim,
                                                     int64_t cross_attention_dim,
                                                     bool double_self_attention,
                                                     const std::string& activation) {
  AttentionOptions a;
  a.query_dim = dim;
  a.heads = heads;
  a.dim_head = head_dim;
  norm1 = register_module("norm1", LayerNorm32(dim, 1e-5));
  attn1 = register_module("attn1", Attention(a));
  if (cross_attention_dim > 0 || double_self_attention) {
    AttentionOptions c = a;
    c.cross_attention_dim = double_self_attention ? 0 : cross_attention_dim;
    norm2 = register_module("norm2", LayerNorm32(dim, 1e-5));
    attn2 = register_module("attn2", Attention(c));
  }
  norm3 = register_module("norm3", LayerNorm32(dim, 1e-5));
  ff = register_module("ff", FeedForward(dim, dim, 4, activation));
}

at::Tensor BasicTransformerBlockImpl::forward(const at::Tensor& x, const at::Tensor& context) {
  // h is this block's own tensor from the first sum on: the later residuals add into it (their
  // output projections accumulate there: no output buffer, no separate add pass).
  at::Tensor h = attn1->forward(norm1->forward(x)) + x;
  if (attn2) attn2->forward_add(norm2->forward(h), context, h);
  ff->forward_add(norm3->forward(h), h);
  return h;
}

void BasicTransformerBlockImpl::forward_in_place(at::Tensor& x, const at::Tensor& context) {
  attn1->forward_add(norm1->forward(x), {}, x);
  if (attn2) attn2->forward_add(norm2->forward(x), context, x);
  ff->forward_add(norm3->forward(x), x);
}

}  // namespace i2v::nn
