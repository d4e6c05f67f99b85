#include "i2v/models/unet/unet_config.h"

#include "i2v/error.h"
#include "i2v/weights/json_config.h"

namespace i2v::unet {

using weights::get_optional;
using weights::get_or;

UNetConfig UNetConfig::from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw ConfigError(source + ": the UNet config is not a JSON object");
  UNetConfig c;
  if (j.contains("_class_name") && j.at("_class_name").is_string() &&
      j.at("_class_name").get<std::string>() != "I2VGenXLUNet") {
    throw ConfigError(source + ": _class_name is '" + j.at("_class_name").get<std::string>() +
                      "', expected I2VGenXLUNet");
  }
  if (j.contains("sample_size") && j.at("sample_size").is_array()) {
    auto s = get_or<std::vector<int64_t>>(j, "sample_size", {}, source);
    if (!s.empty()) c.sample_size = s.front();
  } else {
    c.sample_size = get_or(j, "sample_size", c.sample_size, source);
  }
  c.in_channels = get_or(j, "in_channels", c.in_channels, source);
  c.out_channels = get_or(j, "out_channels", c.out_channels, source);
  c.down_block_types = get_or(j, "down_block_types", c.down_block_types, source);
  c.up_block_types = get_or(j, "up_block_types", c.up_block_types, source);
  c.block_out_channels = get_or(j, "block_out_channels", c.block_out_channels, source);
  c.layers_per_block = get_or(j, "layers_per_block", c.layers_per_block, source);
  c.norm_num_groups = get_or(j, "norm_num_groups", c.norm_num_groups, source);
  c.cross_attention_dim = get_or(j, "cross_attention_dim", c.cross_attention_dim, source);
  c.attention_head_dim = get_or(j, "attention_head_dim", c.attention_head_dim, source);
  c.num_attention_heads = get_optional<int64_t>(j, "num_attention_heads", source);

  auto fail = [&](const std::string& what) { throw ConfigError(source + ": " + what); };
  const size_t n = c.block_out_channels.size();
  if (n == 0) fail("block_out_channels is empty");
  if (c.down_block_types.size() != n || c.up_block_types.size() != n) {
    fail("down_block_types, up_block_types and block_out_channels must have the same length");
  }
  for (const auto& t : c.down_block_types) {
    if (t != "CrossAttnDownBlock3D" && t != "DownBlock3D")
      fail("unsupported down block '" + t + "'");
  }
  for (const auto& t : c.up_block_types) {
    if (t != "CrossAttnUpBlock3D" && t != "UpBlock3D") fail("unsupported up block '" + t + "'");
  }
  if (c.in_channels <= 0 || c.out_channels <= 0 || c.layers_per_block <= 0 ||
      c.norm_num_groups <= 0 || c.cross_attention_dim <= 0 || c.head_size() <= 0) {
    fail("channel counts, layers_per_block, norm_num_groups and head sizes must be positive");
  }
  for (int64_t ch : c.block_out_channels) {
    if (ch <= 0 || ch % c.norm_num_groups != 0) {
      fail("block_out_channels entry " + std::to_string(ch) + " is not a positive multiple of " +
           "norm_num_groups " + std::to_string(c.norm_num_groups));
    }
    if (ch % c.head_size() != 0) {
      fail("block_out_channels entry " + std::to_string(ch) +
           " is not a multiple of the attention head size " + std::to_string(c.head_size()));
    }
  }
  return c;
}

UNetConfig UNetConfig::from_file(const std::filesystem::path& config_json) {
  return from_json(weights::read_json_file(config_json), weights::json_source(config_json));
}

}  // namespace i2v::unet
