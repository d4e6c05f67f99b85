// CLIPImageProcessor's configuration (feature_extractor/preprocessor_config.json) with
// transformers 4.45's defaults for absent keys. I2VGenXLPipeline itself uses only crop_size,
// image_mean and image_std; the rest is kept for completeness and for `i2v inspect`.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace i2v::weights {

// transformers' "size dict": either a shortest edge (aspect kept) or an exact height x width.
struct ImageSize {
  std::optional<int64_t> shortest_edge;
  std::optional<int64_t> longest_edge;
  std::optional<int64_t> height;
  std::optional<int64_t> width;
};

struct ClipImageProcessorConfig {
  bool do_resize = true;
  ImageSize size{224, std::nullopt, std::nullopt, std::nullopt};  // shortest_edge 224
  int resample =
      3;  // PIL.Image.Resampling: 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming
  bool do_center_crop = true;
  int64_t crop_height = 224;
  int64_t crop_width = 224;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::vector<double> image_mean = {0.48145466, 0.4578275, 0.40821073};  // OPENAI_CLIP_MEAN
  std::vector<double> image_std = {0.26862954, 0.26130258, 0.27577711};  // OPENAI_CLIP_STD
  bool do_convert_rgb = true;

  // Accepts the forms transformers does: "size" as an int (shortest edge) or a dict,
  // "crop_size" as an int (square) or {height, width}, mean/std as a number or 3 numbers.
  // Throws ConfigError naming `source` and the key.
  static ClipImageProcessorConfig parse(const nlohmann::json& j, const std::string& source);
  static ClipImageProcessorConfig load(const std::filesystem::path& file);
};

}  // namespace i2v::weights
