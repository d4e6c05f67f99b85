// Typed configuration of diffusers' AutoencoderKL, read from a diffusers config.json. Every key
// the file omits takes diffusers 0.31's constructor default, so a config written by any diffusers
// version builds the network diffusers would build.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace i2v::vae {

struct VaeConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  // One entry per resolution level; only the plain (attention-free) 2-D blocks are supported.
  std::vector<std::string> down_block_types{"DownEncoderBlock2D"};
  std::vector<std::string> up_block_types{"UpDecoderBlock2D"};
  std::vector<int64_t> block_out_channels{64};
  int64_t layers_per_block = 1;  // encoder resnets per level; the decoder has one more
  std::string act_fn = "silu";
  int64_t latent_channels = 4;
  int64_t norm_num_groups = 32;
  int64_t sample_size = 32;  // a list [h, w] in the file gives its first entry (unused here)
  double scaling_factor = 0.18215;
  std::optional<double> shift_factor;
  std::optional<std::vector<double>> latents_mean, latents_std;
  bool force_upcast = true;
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;

  // Every GroupNorm of the VAE (resnets, mid attention, conv_norm_out) uses this epsilon.
  static constexpr double kNormEps = 1e-6;

  // Spatial downsampling factor between images and latents (8 for the KL-f8 model).
  int64_t spatial_scale_factor() const {
    return int64_t{1} << (static_cast<int64_t>(block_out_channels.size()) - 1);
  }

  // Reads the keys above from `j`; `source` names the file in errors. Throws ConfigError naming
  // the key for wrong types, unsupported block types or activations, and inconsistent sizes.
  static VaeConfig from_json(const nlohmann::json& j, const std::string& source);
  static VaeConfig from_file(const std::filesystem::path& config_json);
};

}  // namespace i2v::vae
