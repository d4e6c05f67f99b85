#include "i2v/models/clip/clip_config.h"

#include "i2v/error.h"
#include "i2v/weights/json_config.h"

namespace i2v::clip {

using weights::get_or;

namespace {

// A full CLIPConfig (model_type "clip") nests the tower configs; a tower's own config.json does
// not. transformers' CLIP{Text,Vision}Config.from_pretrained picks the nested dict the same way.
const nlohmann::json& tower_json(const nlohmann::json& j, const char* nested_key,
                                 const std::string& source) {
  if (!j.is_object())
    throw ConfigError(source + ": a CLIP config must be a JSON object, got " + j.type_name());
  if (get_or<std::string>(j, "model_type", "", source) == "clip" && j.contains(nested_key) &&
      j.at(nested_key).is_object())
    return j.at(nested_key);
  return j;
}

void require_positive(int64_t value, const char* key, const std::string& source) {
  if (value <= 0)
    throw ConfigError(source + ": key '" + key + "' must be positive, got " +
                      std::to_string(value));
}

void require_heads_divide(int64_t hidden, int64_t heads, const std::string& source) {
  if (hidden % heads != 0)
    throw ConfigError(source + ": hidden_size " + std::to_string(hidden) +
                      " is not divisible by num_attention_heads " + std::to_string(heads));
}

}  // namespace

ClipTextConfig ClipTextConfig::from_json(const nlohmann::json& root, const std::string& source) {
  const nlohmann::json& j = tower_json(root, "text_config", source);
  ClipTextConfig c;
  c.vocab_size = get_or(j, "vocab_size", c.vocab_size, source);
  c.hidden_size = get_or(j, "hidden_size", c.hidden_size, source);
  c.intermediate_size = get_or(j, "intermediate_size", c.intermediate_size, source);
  c.projection_dim = get_or(j, "projection_dim", c.projection_dim, source);
  c.num_hidden_layers = get_or(j, "num_hidden_layers", c.num_hidden_layers, source);
  c.num_attention_heads = get_or(j, "num_attention_heads", c.num_attention_heads, source);
  c.max_position_embeddings =
      get_or(j, "max_position_embeddings", c.max_position_embeddings, source);
  c.hidden_act = get_or(j, "hidden_act", c.hidden_act, source);
  c.activation = parse_activation(c.hidden_act, source);
  c.layer_norm_eps = get_or(j, "layer_norm_eps", c.layer_norm_eps, source);
  c.pad_token_id = get_or(j, "pad_token_id", c.pad_token_id, source);
  c.bos_token_id = get_or(j, "bos_token_id", c.bos_token_id, source);
  c.eos_token_id = get_or(j, "eos_token_id", c.eos_token_id, source);

  require_positive(c.vocab_size, "vocab_size", source);
  require_positive(c.hidden_size, "hidden_size", source);
  require_positive(c.intermediate_size, "intermediate_size", source);
  require_positive(c.num_hidden_layers, "num_hidden_layers", source);
  require_positive(c.num_attention_heads, "num_attention_heads", source);
  require_positive(c.max_position_embeddings, "max_position_embeddings", source);
  require_heads_divide(c.hidden_size, c.num_attention_heads, source);
  if (!(c.layer_norm_eps > 0))
    throw ConfigError(source + ": key 'layer_norm_eps' must be positive");
  return c;
}

ClipTextConfig ClipTextConfig::from_file(const std::filesystem::path& config_json) {
  return from_json(weights::read_json_file(config_json), config_json.string());
}

ClipVisionConfig ClipVisionConfig::from_json(const nlohmann::json& root,
                                             const std::string& source) {
  const nlohmann::json& j = tower_json(root, "vision_config", source);
  ClipVisionConfig c;
  c.hidden_size = get_or(j, "hidden_size", c.hidden_size, source);
  c.intermediate_size = get_or(j, "intermediate_size", c.intermediate_size, source);
  c.projection_dim = get_or(j, "projection_dim", c.projection_dim, source);
  c.num_hidden_layers = get_or(j, "num_hidden_layers", c.num_hidden_layers, source);
  c.num_attention_heads = get_or(j, "num_attention_heads", c.num_attention_heads, source);
  c.num_channels = get_or(j, "num_channels", c.num_channels, source);
  c.image_size = get_or(j, "image_size", c.image_size, source);
  c.patch_size = get_or(j, "patch_size", c.patch_size, source);
  c.hidden_act = get_or(j, "hidden_act", c.hidden_act, source);
  c.activation = parse_activation(c.hidden_act, source);
  c.layer_norm_eps = get_or(j, "layer_norm_eps", c.layer_norm_eps, source);

  require_positive(c.hidden_size, "hidden_size", source);
  require_positive(c.intermediate_size, "intermediate_size", source);
  require_positive(c.projection_dim, "projection_dim", source);
  require_positive(c.num_hidden_layers, "num_hidden_layers", source);
  require_positive(c.num_attention_heads, "num_attention_heads", source);
  require_positive(c.num_channels, "num_channels", source);
  require_positive(c.image_size, "image_size", source);
  require_positive(c.patch_size, "patch_size", source);
  require_heads_divide(c.hidden_size, c.num_attention_heads, source);
  if (c.patch_size > c.image_size)
    throw ConfigError(source + ": patch_size " + std::to_string(c.patch_size) +
                      " is larger than image_size " + std::to_string(c.image_size));
  if (!(c.layer_norm_eps > 0))
    throw ConfigError(source + ": key 'layer_norm_eps' must be positive");
  return c;
}

ClipVisionConfig ClipVisionConfig::from_file(const std::filesystem::path& config_json) {
  return from_json(weights::read_json_file(config_json), config_json.string());
}

}  // namespace i2v::clip
