#include "i2v/weights/image_processor_config.h"

#include "i2v/error.h"
#include "i2v/weights/json_config.h"

namespace i2v::weights {
namespace {

int64_t positive(const nlohmann::json& j, const std::string& key, const std::string& what,
                 const std::string& source) {
  auto v = get_required<int64_t>(j, key, source + " (" + what + ")");
  if (v <= 0)
    throw ConfigError(source + ": '" + what + "." + key + "' must be positive, got " +
                      std::to_string(v));
  return v;
}

// transformers' get_size_dict: an int means a shortest edge for "size" and a square for
// "crop_size"; a dict must use one of the known key sets.
ImageSize parse_size(const nlohmann::json& v, bool int_means_square, const std::string& key,
                     const std::string& source) {
  ImageSize s;
  if (v.is_number_integer()) {
    int64_t n = v.get<int64_t>();
    if (n <= 0) throw ConfigError(source + ": key '" + key + "' must be positive");
    if (int_means_square)
      s.height = s.width = n;
    else
      s.shortest_edge = n;
    return s;
  }
  if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer()) {
    s.height = v[0].get<int64_t>();
    s.width = v[1].get<int64_t>();
    return s;
  }
  if (!v.is_object())
    throw ConfigError(source + ": key '" + key + "' must be an integer or a size dict, got " +
                      v.dump());
  bool hw = v.contains("height") || v.contains("width");
  bool edges = v.contains("shortest_edge") || v.contains("longest_edge");
  if (hw == edges)
    throw ConfigError(source + ": key '" + key +
                      "' must have either height and width or shortest_edge/longest_edge, got " +
                      v.dump());
  if (hw) {
    s.height = positive(v, "height", key, source);
    s.width = positive(v, "width", key, source);
  } else {
    if (v.contains("shortest_edge")) s.shortest_edge = positive(v, "shortest_edge", key, source);
    if (v.contains("longest_edge")) s.longest_edge = positive(v, "longest_edge", key, source);
  }
  return s;
}

std::vector<double> parse_channels(const nlohmann::json& j, const std::string& key,
                                   std::vector<double> def, const std::string& source) {
  if (!j.contains(key) || j.at(key).is_null()) return def;
  const auto& v = j.at(key);
  if (v.is_number()) return std::vector<double>(3, v.get<double>());
  auto out = get_required<std::vector<double>>(j, key, source);
  if (out.size() != 3)
    throw ConfigError(source + ": key '" + key + "' must have 3 values (RGB), got " + v.dump());
  return out;
}

}  // namespace

ClipImageProcessorConfig ClipImageProcessorConfig::parse(const nlohmann::json& j,
                                                         const std::string& source) {
  if (!j.is_object())
    throw ConfigError(source + ": an image processor config must be a JSON object");
  ClipImageProcessorConfig c;
  c.do_resize = get_or(j, "do_resize", c.do_resize, source);
  if (j.contains("size") && !j.at("size").is_null())
    c.size = parse_size(j.at("size"), /*int_means_square=*/false, "size", source);
  c.resample = get_or(j, "resample", c.resample, source);
  if (c.resample < 0 || c.resample > 5)
    throw ConfigError(source + ": key 'resample' must be a PIL resampling filter 0..5, got " +
                      std::to_string(c.resample));
  c.do_center_crop = get_or(j, "do_center_crop", c.do_center_crop, source);
  if (j.contains("crop_size") && !j.at("crop_size").is_null()) {
    ImageSize crop = parse_size(j.at("crop_size"), /*int_means_square=*/true, "crop_size", source);
    if (!crop.height || !crop.width)
      throw ConfigError(source + ": key 'crop_size' must give height and width");
    c.crop_height = *crop.height;
    c.crop_width = *crop.width;
  }
  c.do_rescale = get_or(j, "do_rescale", c.do_rescale, source);
  c.rescale_factor = get_or(j, "rescale_factor", c.rescale_factor, source);
  c.do_normalize = get_or(j, "do_normalize", c.do_normalize, source);
  c.image_mean = parse_channels(j, "image_mean", c.image_mean, source);
  c.image_std = parse_channels(j, "image_std", c.image_std, source);
  for (double s : c.image_std)
    if (s == 0.0) throw ConfigError(source + ": key 'image_std' must not contain 0");
  c.do_convert_rgb = get_or(j, "do_convert_rgb", c.do_convert_rgb, source);
  return c;
}

ClipImageProcessorConfig ClipImageProcessorConfig::load(const std::filesystem::path& file) {
  return parse(read_json_file(file), file.string());
}

}  // namespace i2v::weights
