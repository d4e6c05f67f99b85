#include "i2v/models/clip/clip_vision_model.h"

#include <sstream>

#include "i2v/error.h"

namespace i2v::clip {

EncoderSpec encoder_spec(const ClipVisionConfig& config) {
  EncoderSpec spec;
  spec.hidden_size = config.hidden_size;
  spec.num_heads = config.num_attention_heads;
  spec.intermediate_size = config.intermediate_size;
  spec.num_layers = config.num_hidden_layers;
  spec.activation = config.activation;
  spec.layer_norm_eps = config.layer_norm_eps;
  return spec;
}

ClipVisionEmbeddingsImpl::ClipVisionEmbeddingsImpl(const ClipVisionConfig& config,
                                                   const at::TensorOptions& options) {
  class_embedding = register_parameter("class_embedding", at::empty({config.hidden_size}, options),
                                       /*requires_grad=*/false);
  patch_embedding = register_module(
      "patch_embedding", std::make_shared<PatchConvImpl>(config.num_channels, config.hidden_size,
                                                         config.patch_size, options));
  position_embedding = register_module(
      "position_embedding",
      std::make_shared<EmbeddingImpl>(config.num_positions(), config.hidden_size, options));
}

at::Tensor ClipVisionEmbeddingsImpl::forward(const at::Tensor& pixel_values) const {
  const int64_t n = pixel_values.size(0);
  at::Tensor patches = patch_embedding->forward(pixel_values);  // (N, C, g, g)
  patches = patches.flatten(2).transpose(1, 2);                 // (N, g*g, C)
  at::Tensor cls = class_embedding.view({1, 1, -1}).expand({n, 1, class_embedding.size(0)});
  at::Tensor tokens = at::cat({cls, patches}, 1);
  return tokens + position_embedding->weight;  // positions 0..num_positions-1
}

ClipVisionTransformerImpl::ClipVisionTransformerImpl(const ClipVisionConfig& config,
                                                     const at::TensorOptions& options) {
  embeddings =
      register_module("embeddings", std::make_shared<ClipVisionEmbeddingsImpl>(config, options));
  pre_layrnorm = register_module(
      "pre_layrnorm",
      std::make_shared<LayerNormImpl>(config.hidden_size, config.layer_norm_eps, options));
  encoder =
      register_module("encoder", std::make_shared<EncoderImpl>(encoder_spec(config), options));
  post_layernorm = register_module(
      "post_layernorm",
      std::make_shared<LayerNormImpl>(config.hidden_size, config.layer_norm_eps, options));
}

ClipVisionModelWithProjection::ClipVisionModelWithProjection(const ClipVisionConfig& config,
                                                             const at::TensorOptions& options)
    : config_(config) {
  vision_model =
      register_module("vision_model", std::make_shared<ClipVisionTransformerImpl>(config, options));
  visual_projection = register_module(
      "visual_projection",
      std::make_shared<LinearImpl>(config.hidden_size, config.projection_dim, false, options));
}

ClipVisionOutput ClipVisionModelWithProjection::forward(const at::Tensor& pixel_values,
                                                        bool output_hidden_states) const {
  const auto& c = config_;
  if (!pixel_values.defined()) throw ShapeError("CLIP vision model: pixel_values is undefined");
  if (!at::isFloatingType(pixel_values.scalar_type()))
    throw ShapeError("CLIP vision model: pixel_values must be floating point, got " +
                     std::string(c10::toString(pixel_values.scalar_type())));
  if (pixel_values.dim() != 4 || pixel_values.size(0) < 1 ||
      pixel_values.size(1) != c.num_channels || pixel_values.size(2) != c.image_size ||
      pixel_values.size(3) != c.image_size) {
    std::ostringstream msg;
    msg << "CLIP vision model: pixel_values has shape " << pixel_values.sizes() << "; expected (N, "
        << c.num_channels << ", " << c.image_size << ", " << c.image_size << ")";
    throw ShapeError(msg.str());
  }
  const at::Tensor& w = vision_model->pre_layrnorm->weight;
  at::Tensor x = pixel_values.to(w.device(), w.scalar_type());

  ClipVisionOutput out;
  at::Tensor h = vision_model->pre_layrnorm->forward(vision_model->embeddings->forward(x));
  h = vision_model->encoder->forward(h, /*mask=*/{}, -1,
                                     output_hidden_states ? &out.hidden_states : nullptr);
  out.last_hidden_state = h;
  out.pooler_output = vision_model->post_layernorm->forward(h.select(1, 0));
  out.image_embeds = visual_projection->forward(out.pooler_output);
  return out;
}

at::Tensor ClipVisionModelWithProjection::image_embeds(const at::Tensor& pixel_values) const {
  return forward(pixel_values, false).image_embeds;
}

}  // namespace i2v::clip
