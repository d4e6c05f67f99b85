#include "i2v/models/clip/clip_text_model.h"

#include <sstream>

#include "i2v/error.h"

namespace i2v::clip {

namespace {

std::string sizes_string(const at::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

}  // namespace

EncoderSpec encoder_spec(const ClipTextConfig& config) {
  EncoderSpec spec;
  spec.hidden_size = config.hidden_size;
  spec.num_heads = config.num_attention_heads;
  spec.intermediate_size = config.intermediate_size;
  spec.num_layers = config.num_hidden_layers;
  spec.activation = config.activation;
  spec.layer_norm_eps = config.layer_norm_eps;
  return spec;
}

ClipTextEmbeddingsImpl::ClipTextEmbeddingsImpl(const ClipTextConfig& config,
                                               const at::TensorOptions& options) {
  token_embedding = register_module(
      "token_embedding",
      std::make_shared<EmbeddingImpl>(config.vocab_size, config.hidden_size, options));
  position_embedding = register_module(
      "position_embedding",
      std::make_shared<EmbeddingImpl>(config.max_position_embeddings, config.hidden_size, options));
}

at::Tensor ClipTextEmbeddingsImpl::forward(const at::Tensor& input_ids) const {
  const int64_t seq = input_ids.size(1);
  at::Tensor positions = at::arange(seq, input_ids.options().dtype(at::kLong));
  // (B, T, C) + (T, C)
  return token_embedding->forward(input_ids) + position_embedding->forward(positions);
}

ClipTextTransformerImpl::ClipTextTransformerImpl(const ClipTextConfig& config,
                                                 const at::TensorOptions& options) {
  embeddings =
      register_module("embeddings", std::make_shared<ClipTextEmbeddingsImpl>(config, options));
  encoder =
      register_module("encoder", std::make_shared<EncoderImpl>(encoder_spec(config), options));
  final_layer_norm = register_module(
      "final_layer_norm",
      std::make_shared<LayerNormImpl>(config.hidden_size, config.layer_norm_eps, options));
}

ClipTextModel::ClipTextModel(const ClipTextConfig& config, const at::TensorOptions& options)
    : config_(config) {
  text_model =
      register_module("text_model", std::make_shared<ClipTextTransformerImpl>(config, options));
}

at::Tensor ClipTextModel::checked_ids(const at::Tensor& input_ids) const {
  if (!input_ids.defined()) throw ShapeError("CLIP text model: input_ids is undefined");
  if (at::isFloatingType(input_ids.scalar_type()) || input_ids.scalar_type() == at::kBool)
    throw ShapeError("CLIP text model: input_ids must be an integer tensor, got " +
                     std::string(c10::toString(input_ids.scalar_type())));
  at::Tensor ids = input_ids.dim() == 1 ? input_ids.unsqueeze(0) : input_ids;
  if (ids.dim() != 2 || ids.size(0) < 1)
    throw ShapeError("CLIP text model: input_ids must have shape (batch, tokens), got " +
                     sizes_string(input_ids));
  const int64_t seq = ids.size(1);
  if (seq < 1 || seq > config_.max_position_embeddings)
    throw ShapeError("CLIP text model: " + std::to_string(seq) +
                     " tokens per sequence; the model takes 1 to " +
                     std::to_string(config_.max_position_embeddings));
  ids = ids.to(at::kLong);
  const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
  if (lo < 0 || hi >= config_.vocab_size)
    throw ShapeError("CLIP text model: token id " + std::to_string(lo < 0 ? lo : hi) +
                     " is outside the vocabulary [0, " + std::to_string(config_.vocab_size) + ")");
  return ids.to(text_model->final_layer_norm->weight.device());
}

ClipTextOutput ClipTextModel::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                      bool output_hidden_states) const {
  at::Tensor ids = checked_ids(input_ids);
  const at::Device device = ids.device();
  at::Tensor mask;
  if (attention_mask.defined()) {
    at::Tensor m = attention_mask.dim() == 1 ? attention_mask.unsqueeze(0) : attention_mask;
    if (m.sizes() != ids.sizes())
      throw ShapeError("CLIP text model: attention_mask has shape " + sizes_string(attention_mask) +
                       ", input_ids " + sizes_string(ids));
    mask = causal_and_padding_mask(m, device);
  } else {
    mask = causal_attention_mask(ids.size(1), device);
  }

  ClipTextOutput out;
  at::Tensor h = text_model->embeddings->forward(ids);
  h = text_model->encoder->forward(h, mask, -1,
                                   output_hidden_states ? &out.hidden_states : nullptr);
  out.last_hidden_state = text_model->final_layer_norm->forward(h);

  // transformers 4.45: configs from before the eos_token_id fix (eos_token_id == 2) pool at the
  // largest id (the end-of-text token in OpenAI's vocabulary); newer ones at the first EOS.
  at::Tensor eos_positions = config_.eos_token_id == 2
                                 ? ids.argmax(-1)
                                 : ids.eq(config_.eos_token_id).to(at::kInt).argmax(-1);
  at::Tensor rows = at::arange(ids.size(0), ids.options());
  out.pooler_output = out.last_hidden_state.index({rows, eos_positions});
  return out;
}

at::Tensor ClipTextModel::prompt_embeds(const at::Tensor& input_ids, int64_t clip_skip) const {
  const int64_t layers = config_.num_hidden_layers;
  if (clip_skip < 0 || clip_skip > layers)
    throw ConfigError("clip_skip " + std::to_string(clip_skip) + " is out of range: the text " +
                      "encoder has " + std::to_string(layers) + " layers (0 to " +
                      std::to_string(layers) + " may be skipped)");
  at::Tensor ids = checked_ids(input_ids);
  at::Tensor mask = causal_attention_mask(ids.size(1), ids.device());
  at::Tensor h = text_model->embeddings->forward(ids);
  h = text_model->encoder->forward(h, mask, layers - clip_skip);
  return text_model->final_layer_norm->forward(h);
}

}  // namespace i2v::clip
