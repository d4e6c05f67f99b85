// The pre-LayerNorm transformer encoder both CLIP towers share (transformers' CLIPEncoder):
//   x = x + out_proj(MHA(LN1(x)))      q/k/v/out projections with bias, scale 1/sqrt(head_dim)
//   x = x + fc2(act(fc1(LN2(x))))
// Submodule names follow transformers: layers.N.{self_attn.{q,k,v,out}_proj, layer_norm1, mlp.
// {fc1, fc2}, layer_norm2}.
#pragma once

#include <ATen/ATen.h>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "i2v/models/clip/clip_activation.h"
#include "i2v/models/clip/clip_layers.h"

namespace i2v::clip {

// The sizes that define an encoder (taken from a text or vision config).
struct EncoderSpec {
  int64_t hidden_size = 0;
  int64_t num_heads = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  Activation activation = Activation::Gelu;
  double layer_norm_eps = 1e-5;
};

// Additive attention mask in fp32, broadcastable to (batch, 1, query, key): 0 where a query may
// attend a key, the lowest float where it may not.
at::Tensor causal_attention_mask(int64_t seq_len, const at::Device& device);
// The causal mask combined with a (batch, seq) padding mask (1 = token, 0 = padding).
at::Tensor causal_and_padding_mask(const at::Tensor& padding_mask, const at::Device& device);

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const EncoderSpec& spec, const at::TensorOptions& options);
  // x (B, T, C); mask undefined or additive fp32 (B or 1, 1, T, T). Scores, mask and softmax are
  // computed in fp32 for any activation dtype; the result has x's dtype.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask) const;

  std::shared_ptr<LinearImpl> k_proj, v_proj, q_proj, out_proj;

 private:
  int64_t num_heads_;
  int64_t head_dim_;
  double scale_;
};

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(const EncoderSpec& spec, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;

  std::shared_ptr<LinearImpl> fc1, fc2;

 private:
  Activation activation_;
};

class EncoderLayerImpl : public torch::nn::Module {
 public:
  EncoderLayerImpl(const EncoderSpec& spec, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask) const;

  std::shared_ptr<AttentionImpl> self_attn;
  std::shared_ptr<LayerNormImpl> layer_norm1;
  std::shared_ptr<MlpImpl> mlp;
  std::shared_ptr<LayerNormImpl> layer_norm2;
};

class EncoderImpl : public torch::nn::Module {
 public:
  EncoderImpl(const EncoderSpec& spec, const at::TensorOptions& options);
  // Runs the first `num_layers` layers (all when negative). When `hidden_states` is given, the
  // input and every layer's output are appended to it (transformers' hidden_states tuple).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask, int64_t num_layers = -1,
                     std::vector<at::Tensor>* hidden_states = nullptr) const;

  int64_t num_layers() const { return static_cast<int64_t>(layer_list_.size()); }
  std::vector<torch::nn::Module*> layer_modules() const;

  // Called around each layer while set (the weights' owner stages each layer's weights only
  // while it runs: 8-bit dequantization, CPU streaming; pipeline::ModelResidency). Empty
  // functions remove them.
  struct LayerHooks {
    std::function<void(torch::nn::Module&)> before, after;
  };
  void set_layer_hooks(LayerHooks hooks) { hooks_ = std::move(hooks); }

  torch::nn::ModuleList layers;

 private:
  std::vector<std::shared_ptr<EncoderLayerImpl>> layer_list_;
  LayerHooks hooks_;
};

}  // namespace i2v::clip
