// diffusers' Attention (AttnProcessor2_0 semantics): q/k/v projections, multi-head scaled
// dot-product attention, output projection; optional GroupNorm on the input and a residual (the
// VAE's mid-block form). Names: to_q, to_k, to_v, to_out.0, group_norm.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "i2v/nn/norm.h"
#include "i2v/nn/scaled_dot_product.h"  // scaled_dot_product(q, k, v, scale)

namespace i2v::nn {

struct AttentionOptions {
  int64_t query_dim = 0;
  int64_t cross_attention_dim = 0;  // 0: self-attention (keys/values from the query input)
  int64_t heads = 8;
  int64_t dim_head = 64;
  bool bias = false;  // on to_q, to_k, to_v
  bool out_bias = true;
  int64_t norm_num_groups = 0;  // > 0: "group_norm" is applied to the input first (VAE)
  double norm_eps = 1e-5;
  bool residual_connection = false;
  double rescale_output_factor = 1.0;
};

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const AttentionOptions& options);
  // x: (N, L, C) or (N, C, H, W) (flattened to (N, HW, C) and restored). context: (N, Lk, Cc);
  // or (B, F, Lk, Cc) with B*F = N, the same tokens for each of a video's F frames (typically a
  // free expand of (B, 1, Lk, Cc)): k and v are then projected once per video, and the frames'
  // queries attend to them side by side (the same result); or undefined for self-attention.
  // Throws ShapeError when the shapes do not fit the layer.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context = {});
  // residual += forward(x, context), the output projection accumulated into residual where
  // linear_add_into() can (token inputs (N, L, C) without the layer's own residual or rescale).
  void forward_add(const at::Tensor& x, const at::Tensor& context, at::Tensor& residual);

  AttentionOptions options;
  torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  torch::nn::ModuleList to_out{nullptr};
  GroupNorm32 group_norm{nullptr};

 private:
  void check_shapes(const at::Tensor& x, const at::Tensor& context) const;
  // The heads' attention output before the output projection, (N, L, heads * dim_head), for
  // tokens x (N, L, C) (already normalised where the layer normalises).
  at::Tensor attend(const at::Tensor& x, const at::Tensor& context);
  // Self-attention's q, k and v as one product of x with the three weights stacked (x read once
  // instead of three times), where the kept packed weights allow it (kernels/packed_weights.h):
  // (..., inner) views of one buffer. False, touching nothing, where they do not.
  bool project_qkv_at_once(const at::Tensor& x, at::Tensor& q, at::Tensor& k, at::Tensor& v);
  torch::nn::Linear out_proj_{nullptr};
};
TORCH_MODULE(Attention);

}  // namespace i2v::nn
