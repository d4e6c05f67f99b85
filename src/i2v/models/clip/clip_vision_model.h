// transformers' CLIPVisionModelWithProjection: patch Conv2d (no bias) + class token + learned
// position embeddings, pre_layrnorm (sic, the transformers name), a pre-LN encoder without mask,
// post_layernorm on the class token, then visual_projection (no bias) -> image_embeds.
// Parameter names are exactly the transformers state-dict names (vision_model.*,
// visual_projection.weight).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <memory>
#include <vector>

#include "i2v/models/clip/clip_config.h"
#include "i2v/models/clip/clip_encoder.h"
#include "i2v/models/clip/clip_layers.h"

namespace i2v::clip {

struct ClipVisionOutput {
  at::Tensor image_embeds;       // (N, projection_dim): visual_projection(pooler_output)
  at::Tensor last_hidden_state;  // (N, 1 + patches, C): last layer's output (no post LayerNorm)
  at::Tensor pooler_output;      // (N, C): post_layernorm(last_hidden_state[:, 0])
  // pre_layrnorm(embeddings), then every layer's output; empty unless requested.
  std::vector<at::Tensor> hidden_states;
};

class ClipVisionEmbeddingsImpl : public torch::nn::Module {
 public:
  ClipVisionEmbeddingsImpl(const ClipVisionConfig& config, const at::TensorOptions& options);
  // (N, channels, S, S) -> (N, 1 + (S/p)^2, C): class token first, patches row-major.
  at::Tensor forward(const at::Tensor& pixel_values) const;

  at::Tensor class_embedding;  // (C)
  std::shared_ptr<PatchConvImpl> patch_embedding;
  std::shared_ptr<EmbeddingImpl> position_embedding;
};

class ClipVisionTransformerImpl : public torch::nn::Module {
 public:
  ClipVisionTransformerImpl(const ClipVisionConfig& config, const at::TensorOptions& options);

  std::shared_ptr<ClipVisionEmbeddingsImpl> embeddings;
  std::shared_ptr<LayerNormImpl> pre_layrnorm;
  std::shared_ptr<EncoderImpl> encoder;
  std::shared_ptr<LayerNormImpl> post_layernorm;
};

class ClipVisionModelWithProjection : public torch::nn::Module {
 public:
  // Uninitialised parameters of `options`' dtype/device (see load_clip_vision_model).
  explicit ClipVisionModelWithProjection(const ClipVisionConfig& config,
                                         const at::TensorOptions& options = {});

  // pixel_values: floating (N, num_channels, image_size, image_size), CLIP-normalised; cast to
  // the model's dtype and device. ShapeError for any other shape.
  ClipVisionOutput forward(const at::Tensor& pixel_values, bool output_hidden_states = false) const;
  // Only image_embeds (N, projection_dim).
  at::Tensor image_embeds(const at::Tensor& pixel_values) const;

  const ClipVisionConfig& config() const { return config_; }

  std::shared_ptr<ClipVisionTransformerImpl> vision_model;
  std::shared_ptr<LinearImpl> visual_projection;

 private:
  ClipVisionConfig config_;
};

EncoderSpec encoder_spec(const ClipVisionConfig& config);

}  // namespace i2v::clip
