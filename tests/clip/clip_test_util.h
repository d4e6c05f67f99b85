// Helpers for the CLIP tests: golden tensors, error measures, reference locations.
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <string>

#include "i2v/io/safetensors.h"
#include "support/test_support.h"

namespace i2v::test {

inline std::filesystem::path clip_text_dir() {
  return golden_pipeline() / "text_encoder";
}
inline std::filesystem::path clip_vision_dir() {
  return golden_pipeline() / "image_encoder";
}
inline std::filesystem::path official_config(const std::string& component) {
  return shared_dir() / "data" / "i2vgen-xl-official-configs" / component / "config.json";
}

// Every tensor of a golden file under golden/golden/ ("units/clip_text.safetensors", ...).
inline const std::map<std::string, at::Tensor>& golden(const std::string& file) {
  static std::map<std::string, std::map<std::string, at::Tensor>> cache;
  auto it = cache.find(file);
  if (it == cache.end())
    it = cache.emplace(file, io::load_safetensors(golden_dir() / "golden" / file)).first;
  return it->second;
}

inline const at::Tensor& golden_tensor(const std::string& file, const std::string& name) {
  const auto& g = golden(file);
  auto it = g.find(name);
  if (it == g.end()) throw std::runtime_error("golden tensor " + file + ":" + name + " is missing");
  return it->second;
}

// max |actual - expected| / max |expected|, in fp64 (shapes must match exactly).
inline double relative_error(const at::Tensor& actual, const at::Tensor& expected) {
  if (actual.sizes() != expected.sizes()) return 1e30;
  at::Tensor a = actual.to(at::kDouble), e = expected.to(at::kDouble);
  double scale = e.abs().max().item<double>();
  return (a - e).abs().max().item<double>() / (scale > 0 ? scale : 1.0);
}

}  // namespace i2v::test
