// I2VGenXLUNet's configuration (unet/config.json) with diffusers 0.31's constructor defaults for
// every absent key.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace i2v::unet {

struct UNetConfig {
  int64_t sample_size = 32;
  int64_t in_channels = 4;
  int64_t out_channels = 4;
  std::vector<std::string> down_block_types = {"CrossAttnDownBlock3D", "CrossAttnDownBlock3D",
                                               "CrossAttnDownBlock3D", "DownBlock3D"};
  std::vector<std::string> up_block_types = {"UpBlock3D", "CrossAttnUpBlock3D",
                                             "CrossAttnUpBlock3D", "CrossAttnUpBlock3D"};
  std::vector<int64_t> block_out_channels = {320, 640, 1280, 1280};
  int64_t layers_per_block = 2;
  int64_t norm_num_groups = 32;
  int64_t cross_attention_dim = 1024;
  int64_t attention_head_dim = 64;
  std::optional<int64_t> num_attention_heads;

  // What the blocks receive as their "number of heads" argument. diffusers' I2VGenXLUNet uses
  // num_attention_heads or, when absent, attention_head_dim; the 3-D blocks then build
  // transformers with channels / that value heads of that size.
  int64_t head_size() const { return num_attention_heads.value_or(attention_head_dim); }
  int64_t time_embed_dim() const { return block_out_channels.front() * 4; }

  // Parses and validates (block types, channel/group divisibility); ConfigError names `source`.
  static UNetConfig from_json(const nlohmann::json& j, const std::string& source);
  static UNetConfig from_file(const std::filesystem::path& config_json);
};

}  // namespace i2v::unet
