// transformers' CLIPTextModel: token + learned position embeddings, a causal pre-LN encoder and a
// final LayerNorm. Parameter names are exactly the transformers state-dict names
// (text_model.embeddings.token_embedding.weight, text_model.encoder.layers.N...,
// text_model.final_layer_norm.*). position_ids is not a parameter or buffer (non-persistent in
// transformers 4.45); positions are 0..T-1.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <memory>
#include <vector>

#include "i2v/models/clip/clip_config.h"
#include "i2v/models/clip/clip_encoder.h"
#include "i2v/models/clip/clip_layers.h"

namespace i2v::clip {

struct ClipTextOutput {
  at::Tensor last_hidden_state;  // (B, T, C): final_layer_norm(last layer's output)
  at::Tensor pooler_output;      // (B, C): last_hidden_state at each sequence's EOS token
  // Embedding output, then every layer's output (num_hidden_layers + 1 entries, before the
  // final LayerNorm); empty unless requested.
  std::vector<at::Tensor> hidden_states;
};

class ClipTextEmbeddingsImpl : public torch::nn::Module {
 public:
  ClipTextEmbeddingsImpl(const ClipTextConfig& config, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& input_ids) const;  // (B, T) -> (B, T, C)

  std::shared_ptr<EmbeddingImpl> token_embedding, position_embedding;
};

class ClipTextTransformerImpl : public torch::nn::Module {
 public:
  ClipTextTransformerImpl(const ClipTextConfig& config, const at::TensorOptions& options);

  std::shared_ptr<ClipTextEmbeddingsImpl> embeddings;
  std::shared_ptr<EncoderImpl> encoder;
  std::shared_ptr<LayerNormImpl> final_layer_norm;
};

class ClipTextModel : public torch::nn::Module {
 public:
  // Builds the network with uninitialised parameters of `options`' dtype/device (fill them with
  // load_clip_text_model / load_state_dict_strict).
  explicit ClipTextModel(const ClipTextConfig& config, const at::TensorOptions& options = {});

  // The full forward pass. input_ids: integer (B, T) or (T), 1 <= T <= max_position_embeddings,
  // every id in [0, vocab_size) (ShapeError otherwise). attention_mask: optional (B, T) padding
  // mask (1 = token, 0 = padding) combined with the causal mask; undefined = causal only, as the
  // I2VGen-XL pipeline runs it. Pooling follows transformers 4.45: with eos_token_id == 2 (old
  // configs) the position of the largest id, else the first eos_token_id (0 if absent).
  ClipTextOutput forward(const at::Tensor& input_ids, const at::Tensor& attention_mask = {},
                         bool output_hidden_states = false) const;

  // What diffusers' encode_prompt computes: final_layer_norm(hidden_states[-(clip_skip + 1)]);
  // clip_skip 0 is the last_hidden_state (encode_prompt without clip_skip), I2VGen-XL's default is
  // 1 (the penultimate layer). Only the layers needed are run. Causal mask only.
  at::Tensor prompt_embeds(const at::Tensor& input_ids, int64_t clip_skip = 1) const;

  const ClipTextConfig& config() const { return config_; }

  std::shared_ptr<ClipTextTransformerImpl> text_model;

 private:
  // (B, T) int64 ids on the model's device, validated.
  at::Tensor checked_ids(const at::Tensor& input_ids) const;

  ClipTextConfig config_;
};

// The encoder sizes of a text config.
EncoderSpec encoder_spec(const ClipTextConfig& config);

}  // namespace i2v::clip
