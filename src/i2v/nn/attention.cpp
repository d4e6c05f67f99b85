#include "i2v/nn/attention.h"

#include <ATen/ATen.h>

#include <cmath>
#include <string>
#include <vector>

#include "i2v/error.h"
#include "i2v/kernels/onednn_gemm.h"
#include "i2v/kernels/packed_weights.h"
#include "i2v/lora/trainable_adapters.h"
#include "i2v/nn/autograd.h"
#include "i2v/nn/layer_weight.h"
#include "i2v/nn/linear.h"
#include "i2v/nn/placeholder.h"
#include "i2v/nn/shape_check.h"

namespace i2v::nn {
AttentionImpl::AttentionImpl(const AttentionOptions& o) : options(o) {
  const int64_t inner = o.heads * o.dim_head;
  const int64_t kv_dim = o.cross_attention_dim > 0 ? o.cross_attention_dim : o.query_dim;
  to_q = register_module(
      "to_q", torch::nn::Linear(torch::nn::LinearOptions(o.query_dim, inner).bias(o.bias)));
  to_k = register_module("to_k",
                         torch::nn::Linear(torch::nn::LinearOptions(kv_dim, inner).bias(o.bias)));
  to_v = register_module("to_v",
                         torch::nn::Linear(torch::nn::LinearOptions(kv_dim, inner).bias(o.bias)));
  out_proj_ = torch::nn::Linear(torch::nn::LinearOptions(inner, o.query_dim).bias(o.out_bias));
  to_out = register_module("to_out", torch::nn::ModuleList(out_proj_, Placeholder()));
  if (o.norm_num_groups > 0) {
    group_norm = register_module("group_norm",
                                 GroupNorm32(o.norm_num_groups, o.query_dim, o.norm_eps, true));
  }
}

void AttentionImpl::check_shapes(const at::Tensor& input, const at::Tensor& context) const {
  const int64_t c = options.query_dim;
  const bool spatial = input.dim() == 4;
  if (!input.defined() || (input.dim() != 3 && !spatial) || input.size(spatial ? 1 : 2) != c) {
    throw ShapeError("attention: expected input (N, L, " + std::to_string(c) + ") or (N, " +
                     std::to_string(c) + ", H, W), got " + shape_string(input));
  }
  if (!context.defined()) return;
  const int64_t cc = options.cross_attention_dim > 0 ? options.cross_attention_dim : c;
  const bool per_row = context.dim() == 3 && context.size(0) == input.size(0);
  const bool per_video = context.dim() == 4 && context.size(0) * context.size(1) == input.size(0);
  if ((!per_row && !per_video) || context.size(-1) != cc) {
    throw ShapeError("attention: expected context (" + std::to_string(input.size(0)) + ", L, " +
                     std::to_string(cc) + ") or (B, F, L, " + std::to_string(cc) + ") with B*F = " +
                     std::to_string(input.size(0)) + ", got " + shape_string(context));
  }
}

bool AttentionImpl::project_qkv_at_once(const at::Tensor& x, at::Tensor& q, at::Tensor& k,
                                        at::Tensor& v) {
  // Only the layer's own bf16 weights (no 8-bit or LoRA copies, no graph, no biases), and only
  // while packed copies are kept: the stacked weight is then built and packed once.
  if (options.bias || x.scalar_type() != at::kBFloat16 || !kernels::packed_weights_open() ||
      needs_graph(x) || lora::any_trainable_adapters())
    return false;
  for (const auto* layer : {&to_q, &to_k, &to_v}) {
    const at::Tensor& w = (*layer)->weight;
    if (w.scalar_type() != at::kBFloat16 || !layer_weight(w, at::kBFloat16).is_same(w))
      return false;
  }
  const int64_t inner = to_q->weight.size(0);
  const at::Tensor x2 = x.reshape({-1, x.size(-1)});
  at::Tensor qkv = at::empty({x2.size(0), 3 * inner}, x.options());
  auto stacked = [&] { return at::cat({to_q->weight, to_k->weight, to_v->weight}).contiguous(); };
  if (!kernels::onednn_gemm_rearranged(x2, to_q->weight, 3 * inner, stacked, {}, qkv)) return false;
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = inner;
  q = qkv.narrow(1, 0, inner).view(shape);
  k = qkv.narrow(1, inner, inner).view(shape);
  v = qkv.narrow(1, 2 * inner, inner).view(shape);
  return true;
}

at::Tensor AttentionImpl::attend(const at::Tensor& x, const at::Tensor& context) {
  const int64_t n = x.size(0);
  // One context per video: its k and v once, and each video's frames as one run of query rows
  // (every query row's softmax is its own, so this is the per-frame attention, F times fewer
  // k/v products).
  const bool per_video = context.defined() && context.dim() == 4;
  const at::Tensor kv = !context.defined() ? x : per_video ? context.select(1, 0) : context;
  const int64_t groups = per_video ? context.size(0) : n;

  const int64_t h = options.heads, d = options.dim_head;
  auto split_heads = [&](const at::Tensor& t) {
    return t.reshape({groups, -1, h, d}).transpose(1, 2);  // (groups, H, L, d)
  };
  at::Tensor q, k, v;
  if (!context.defined() && project_qkv_at_once(x, q, k, v)) {
    q = split_heads(q);
    k = split_heads(k);
    v = split_heads(v);
  } else {
    q = split_heads(linear(to_q, x));
    k = split_heads(linear(to_k, kv));
    v = split_heads(linear(to_v, kv));
  }
  at::Tensor o = scaled_dot_product(q, k, v, 1.0 / std::sqrt(static_cast<double>(d)));
  return o.transpose(1, 2).reshape({n, -1, h * d});
}

at::Tensor AttentionImpl::forward(const at::Tensor& input, const at::Tensor& context) {
  check_shapes(input, context);
  const bool spatial = input.dim() == 4;
  at::Tensor x = input;
  if (spatial) x = input.flatten(2).transpose(1, 2);  // (N, HW, C)
  if (group_norm) x = group_norm->forward(x.transpose(1, 2)).transpose(1, 2);
  at::Tensor o = linear(out_proj_, attend(x, context));
  if (spatial) o = o.transpose(1, 2).reshape(input.sizes());
  if (options.residual_connection) o = o + input;
  if (options.rescale_output_factor != 1.0) o = o / options.rescale_output_factor;
  return o;
}

void AttentionImpl::forward_add(const at::Tensor& x, const at::Tensor& context,
                                at::Tensor& residual) {
  if (x.dim() != 3 || group_norm || options.residual_connection ||
      options.rescale_output_factor != 1.0 || !residual.defined() ||
      residual.sizes() != x.sizes()) {
    const at::Tensor o = forward(x, context);
    add_into(residual, o);
    return;
  }
  check_shapes(x, context);
  linear_add_into(out_proj_, attend(x, context), residual);
}

}  // namespace i2v::nn
