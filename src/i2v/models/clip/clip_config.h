// Typed configurations of the two CLIP towers, read from a transformers config.json. Every key
// the file omits takes transformers 4.45's default (CLIPTextConfig / CLIPVisionConfig), so a
// config written by any transformers version builds the same network transformers would.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

#include "i2v/models/clip/clip_activation.h"

namespace i2v::clip {

// CLIPTextConfig (the text tower of CLIPTextModel).
struct ClipTextConfig {
  int64_t vocab_size = 49408;
  int64_t hidden_size = 512;
  int64_t intermediate_size = 2048;
  int64_t projection_dim = 512;  // unused by CLIPTextModel itself; kept for completeness
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 8;
  int64_t max_position_embeddings = 77;
  std::string hidden_act = "quick_gelu";
  Activation activation = Activation::QuickGelu;  // parsed from hidden_act
  double layer_norm_eps = 1e-5;
  int64_t pad_token_id = 1;
  int64_t bos_token_id = 49406;
  int64_t eos_token_id = 49407;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }

  // Reads the keys above from `j` (a CLIPTextConfig, or a full CLIPConfig whose "text_config"
  // is used). `source` names the file in errors. Throws ConfigError for wrong types, unknown
  // activations or inconsistent sizes.
  static ClipTextConfig from_json(const nlohmann::json& j, const std::string& source);
  static ClipTextConfig from_file(const std::filesystem::path& config_json);
};

// CLIPVisionConfig (the vision tower of CLIPVisionModelWithProjection).
struct ClipVisionConfig {
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t projection_dim = 512;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t num_channels = 3;
  int64_t image_size = 224;
  int64_t patch_size = 32;
  std::string hidden_act = "quick_gelu";
  Activation activation = Activation::QuickGelu;
  double layer_norm_eps = 1e-5;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  int64_t patches_per_side() const { return image_size / patch_size; }
  int64_t num_patches() const { return patches_per_side() * patches_per_side(); }
  int64_t num_positions() const { return num_patches() + 1; }  // + the class token

  // As ClipTextConfig::from_json; a full CLIPConfig's "vision_config" is used.
  static ClipVisionConfig from_json(const nlohmann::json& j, const std::string& source);
  static ClipVisionConfig from_file(const std::filesystem::path& config_json);
};

}  // namespace i2v::clip
