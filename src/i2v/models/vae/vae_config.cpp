#include "i2v/models/vae/vae_config.h"

#include "i2v/error.h"
#include "i2v/weights/json_config.h"

namespace i2v::vae {

using weights::get_optional;
using weights::get_or;

namespace {

void require_positive(int64_t value, const std::string& key, const std::string& source) {
  if (value <= 0)
    throw ConfigError(source + ": key '" + key + "' must be positive, got " +
                      std::to_string(value));
}

void require_block_types(const std::vector<std::string>& types, const std::string& supported,
                         const std::string& key, const std::string& source) {
  for (size_t i = 0; i < types.size(); ++i)
    if (types[i] != supported)
      throw ConfigError(source + ": key '" + key + "' entry " + std::to_string(i) + " is '" +
                        types[i] + "'; only " + supported + " is supported");
}

// diffusers accepts an int or an [h, w] pair.
int64_t read_sample_size(const nlohmann::json& j, int64_t def, const std::string& source) {
  if (j.contains("sample_size") && j.at("sample_size").is_array()) {
    auto sizes = get_or<std::vector<int64_t>>(j, "sample_size", {}, source);
    if (sizes.empty()) throw ConfigError(source + ": key 'sample_size' is an empty list");
    return sizes.front();
  }
  return get_or(j, "sample_size", def, source);
}

}  // namespace

VaeConfig VaeConfig::from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object())
    throw ConfigError(source + ": an AutoencoderKL config must be a JSON object, got " +
                      std::string(j.type_name()));
  VaeConfig c;
  c.in_channels = get_or(j, "in_channels", c.in_channels, source);
  c.out_channels = get_or(j, "out_channels", c.out_channels, source);
  c.down_block_types = get_or(j, "down_block_types", c.down_block_types, source);
  c.up_block_types = get_or(j, "up_block_types", c.up_block_types, source);
  c.block_out_channels = get_or(j, "block_out_channels", c.block_out_channels, source);
  c.layers_per_block = get_or(j, "layers_per_block", c.layers_per_block, source);
  c.act_fn = get_or(j, "act_fn", c.act_fn, source);
  c.latent_channels = get_or(j, "latent_channels", c.latent_channels, source);
  c.norm_num_groups = get_or(j, "norm_num_groups", c.norm_num_groups, source);
  c.sample_size = read_sample_size(j, c.sample_size, source);
  c.scaling_factor = get_or(j, "scaling_factor", c.scaling_factor, source);
  c.shift_factor = get_optional<double>(j, "shift_factor", source);
  c.latents_mean = get_optional<std::vector<double>>(j, "latents_mean", source);
  c.latents_std = get_optional<std::vector<double>>(j, "latents_std", source);
  c.force_upcast = get_or(j, "force_upcast", c.force_upcast, source);
  c.use_quant_conv = get_or(j, "use_quant_conv", c.use_quant_conv, source);
  c.use_post_quant_conv = get_or(j, "use_post_quant_conv", c.use_post_quant_conv, source);
  c.mid_block_add_attention =
      get_or(j, "mid_block_add_attention", c.mid_block_add_attention, source);

  require_block_types(c.down_block_types, "DownEncoderBlock2D", "down_block_types", source);
  require_block_types(c.up_block_types, "UpDecoderBlock2D", "up_block_types", source);
  // diffusers' get_activation also knows mish/gelu/relu, but no VAE uses them and the shared
  // resnet block is SiLU-only.
  weights::check_one_of(c.act_fn, {"silu", "swish"}, "act_fn", source);
  if (c.block_out_channels.empty())
    throw ConfigError(source + ": key 'block_out_channels' must not be empty");
  if (c.down_block_types.size() != c.block_out_channels.size())
    throw ConfigError(
        source + ": key 'down_block_types' has " + std::to_string(c.down_block_types.size()) +
        " entries but 'block_out_channels' has " + std::to_string(c.block_out_channels.size()));
  if (c.up_block_types.size() != c.block_out_channels.size())
    throw ConfigError(
        source + ": key 'up_block_types' has " + std::to_string(c.up_block_types.size()) +
        " entries but 'block_out_channels' has " + std::to_string(c.block_out_channels.size()));
  require_positive(c.in_channels, "in_channels", source);
  require_positive(c.out_channels, "out_channels", source);
  require_positive(c.layers_per_block, "layers_per_block", source);
  require_positive(c.latent_channels, "latent_channels", source);
  require_positive(c.norm_num_groups, "norm_num_groups", source);
  for (int64_t ch : c.block_out_channels) {
    require_positive(ch, "block_out_channels", source);
    if (ch % c.norm_num_groups != 0)
      throw ConfigError(source + ": key 'block_out_channels' entry " + std::to_string(ch) +
                        " is not divisible by norm_num_groups " +
                        std::to_string(c.norm_num_groups));
  }
  if (!(c.scaling_factor > 0))
    throw ConfigError(source + ": key 'scaling_factor' must be positive, got " +
                      std::to_string(c.scaling_factor));
  return c;
}

VaeConfig VaeConfig::from_file(const std::filesystem::path& config_json) {
  return from_json(weights::read_json_file(config_json), config_json.string());
}

}  // namespace i2v::vae
