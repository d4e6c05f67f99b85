#include "i2v/models/clip/clip_encoder.h"

#include <cmath>
#include <limits>

#include "i2v/error.h"
#include "i2v/nn/scaled_dot_product.h"

namespace i2v::clip {

namespace {

// transformers fills masked scores with the dtype's lowest value (not -inf), so a fully masked
// row gives a uniform distribution instead of NaN; the same is done here.
constexpr float kMasked = std::numeric_limits<float>::lowest();

}  // namespace

at::Tensor causal_attention_mask(int64_t seq_len, const at::Device& device) {
  auto opts = at::TensorOptions().dtype(at::kFloat).device(device);
  at::Tensor mask = at::full({seq_len, seq_len}, kMasked, opts).triu(1);  // above the diagonal
  return mask.view({1, 1, seq_len, seq_len});
}

at::Tensor causal_and_padding_mask(const at::Tensor& padding_mask, const at::Device& device) {
  const int64_t batch = padding_mask.size(0), seq_len = padding_mask.size(1);
  auto bool_opts = at::TensorOptions().dtype(at::kBool).device(device);
  at::Tensor causal = at::ones({seq_len, seq_len}, bool_opts).tril();  // query i sees keys <= i
  at::Tensor keys = padding_mask.to(device).ne(0).view({batch, 1, 1, seq_len});
  at::Tensor allowed = at::logical_and(causal.view({1, 1, seq_len, seq_len}), keys);
  auto opts = at::TensorOptions().dtype(at::kFloat).device(device);
  return at::zeros({batch, 1, seq_len, seq_len}, opts).masked_fill(allowed.logical_not(), kMasked);
}

AttentionImpl::AttentionImpl(const EncoderSpec& spec, const at::TensorOptions& options)
    : num_heads_(spec.num_heads), head_dim_(spec.hidden_size / spec.num_heads) {
  scale_ = 1.0 / std::sqrt(static_cast<double>(head_dim_));
  const int64_t c = spec.hidden_size;
  k_proj = register_module("k_proj", std::make_shared<LinearImpl>(c, c, true, options));
  v_proj = register_module("v_proj", std::make_shared<LinearImpl>(c, c, true, options));
  q_proj = register_module("q_proj", std::make_shared<LinearImpl>(c, c, true, options));
  out_proj = register_module("out_proj", std::make_shared<LinearImpl>(c, c, true, options));
}

at::Tensor AttentionImpl::forward(const at::Tensor& x, const at::Tensor& mask) const {
  const int64_t batch = x.size(0), seq = x.size(1), channels = x.size(2);
  if (!mask.defined()) {
    // The vision tower: the shared attention (blocked bf16 products with a float32 softmax on
    // oneDNN, float32 otherwise). The scale is applied to the scores in float32 instead of to the
    // bf16 query: the same math, one rounding fewer.
    auto heads = [&](const at::Tensor& t) {
      return t.view({batch, seq, num_heads_, head_dim_}).transpose(1, 2);  // (B, H, T, D)
    };
    at::Tensor out = nn::scaled_dot_product(heads(q_proj->forward(x)), heads(k_proj->forward(x)),
                                            heads(v_proj->forward(x)), scale_);
    return out_proj->forward(out.transpose(1, 2).reshape({batch, seq, channels}));
  }
  // (B, T, C) -> (B*H, T, D), in fp32.
  auto heads = [&](const at::Tensor& t) {
    return t.to(at::kFloat)
        .view({batch, seq, num_heads_, head_dim_})
        .transpose(1, 2)
        .reshape({batch * num_heads_, seq, head_dim_});
  };
  // As transformers: the query (with its bias) is scaled before the product.
  at::Tensor q = heads(q_proj->forward(x)) * scale_;
  at::Tensor k = heads(k_proj->forward(x));
  at::Tensor v = heads(v_proj->forward(x));

  at::Tensor scores = at::bmm(q, k.transpose(1, 2));  // (B*H, T, T)
  scores = (scores.view({batch, num_heads_, seq, seq}) + mask).view({batch * num_heads_, seq, seq});
  at::Tensor probs = at::softmax(scores, -1);
  at::Tensor out = at::bmm(probs, v)  // (B*H, T, D)
                       .view({batch, num_heads_, seq, head_dim_})
                       .transpose(1, 2)
                       .reshape({batch, seq, channels})
                       .to(x.scalar_type());
  return out_proj->forward(out);
}

MlpImpl::MlpImpl(const EncoderSpec& spec, const at::TensorOptions& options)
    : activation_(spec.activation) {
  fc1 = register_module(
      "fc1", std::make_shared<LinearImpl>(spec.hidden_size, spec.intermediate_size, true, options));
  fc2 = register_module(
      "fc2", std::make_shared<LinearImpl>(spec.intermediate_size, spec.hidden_size, true, options));
}

at::Tensor MlpImpl::forward(const at::Tensor& x) const {
  return fc2->forward(apply_activation(activation_, fc1->forward(x)));
}

EncoderLayerImpl::EncoderLayerImpl(const EncoderSpec& spec, const at::TensorOptions& options) {
  self_attn = register_module("self_attn", std::make_shared<AttentionImpl>(spec, options));
  layer_norm1 = register_module("layer_norm1", std::make_shared<LayerNormImpl>(
                                                   spec.hidden_size, spec.layer_norm_eps, options));
  mlp = register_module("mlp", std::make_shared<MlpImpl>(spec, options));
  layer_norm2 = register_module("layer_norm2", std::make_shared<LayerNormImpl>(
                                                   spec.hidden_size, spec.layer_norm_eps, options));
}

at::Tensor EncoderLayerImpl::forward(const at::Tensor& x, const at::Tensor& mask) const {
  at::Tensor h = x + self_attn->forward(layer_norm1->forward(x), mask);
  return h + mlp->forward(layer_norm2->forward(h));
}

EncoderImpl::EncoderImpl(const EncoderSpec& spec, const at::TensorOptions& options) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < spec.num_layers; ++i) {
    auto layer = std::make_shared<EncoderLayerImpl>(spec, options);
    layers->push_back(layer);
    layer_list_.push_back(layer);
  }
}

at::Tensor EncoderImpl::forward(const at::Tensor& x, const at::Tensor& mask, int64_t num_layers,
                                std::vector<at::Tensor>* hidden_states) const {
  if (num_layers < 0) num_layers = this->num_layers();
  if (num_layers > this->num_layers())
    throw ConfigError("the CLIP encoder has " + std::to_string(this->num_layers()) +
                      " layers; cannot run " + std::to_string(num_layers));
  at::Tensor h = x;
  if (hidden_states) hidden_states->push_back(h);
  for (int64_t i = 0; i < num_layers; ++i) {
    if (hooks_.before) hooks_.before(*layer_list_[i]);
    h = layer_list_[i]->forward(h, mask);
    if (hooks_.after) hooks_.after(*layer_list_[i]);
    if (hidden_states) hidden_states->push_back(h);
  }
  return h;
}

std::vector<torch::nn::Module*> EncoderImpl::layer_modules() const {
  std::vector<torch::nn::Module*> out;
  for (const auto& layer : layer_list_) out.push_back(layer.get());
  return out;
}

}  // namespace i2v::clip
