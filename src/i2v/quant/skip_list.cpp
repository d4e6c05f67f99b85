#include "i2v/quant/skip_list.h"

namespace i2v::quant {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Whether one of the dot-separated parts of `name` equals `part`.
bool has_part(const std::string& name, const std::string& part) {
  size_t begin = 0;
  while (begin <= name.size()) {
    size_t end = name.find('.', begin);
    if (end == std::string::npos) end = name.size();
    if (name.compare(begin, end - begin, part) == 0) return true;
    begin = end + 1;
  }
  return false;
}

}  // namespace

bool is_quantizable_component(const std::string& component) {
  return component == "unet" || component == "text_encoder" || component == "image_encoder";
}

std::optional<std::string> keeps_precision(const std::string& component, const std::string& name,
                                           const std::vector<int64_t>& shape) {
  if (!ends_with(name, ".weight")) return "not a weight matrix (bias or buffer)";
  if (shape.size() < 2) return "one-dimensional";
  if (name.find("norm") != std::string::npos) return "normalisation layer";
  if (name.find("embedding") != std::string::npos) return "embedding";
  if (component == "unet") {
    if (starts_with(name, "conv_in.") || starts_with(name, "conv_out."))
      return "first or last convolution";
    if (starts_with(name, "image_latents_")) return "image conditioning path";
    if (has_part(name, "proj_in") || has_part(name, "proj_out"))
      return "transformer input or output projection";
  } else if (has_part(name, "text_projection") || has_part(name, "visual_projection")) {
    return "output projection";
  }
  return std::nullopt;
}

}  // namespace i2v::quant
