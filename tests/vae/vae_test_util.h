// Helpers for the VAE tests: reference locations, golden tensors, error measures.
#pragma once

#include <ATen/ATen.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>

#include "i2v/io/safetensors.h"
#include "support/test_support.h"

namespace i2v::test {

inline std::filesystem::path vae_dir() {
  return golden_pipeline() / "vae";
}
inline std::filesystem::path official_vae_config() {
  return shared_dir() / "data" / "i2vgen-xl-official-configs" / "vae" / "config.json";
}

// Every tensor of a golden file under golden/golden/ ("units/vae_decode.safetensors", ...).
inline const std::map<std::string, at::Tensor>& vae_golden(const std::string& file) {
  static std::map<std::string, std::map<std::string, at::Tensor>> cache;
  auto it = cache.find(file);
  if (it == cache.end())
    it = cache.emplace(file, io::load_safetensors(golden_dir() / "golden" / file)).first;
  return it->second;
}

inline const at::Tensor& vae_golden_tensor(const std::string& file, const std::string& name) {
  const auto& g = vae_golden(file);
  auto it = g.find(name);
  if (it == g.end()) throw std::runtime_error("golden tensor " + file + ":" + name + " is missing");
  return it->second;
}

// max |actual - expected| / max |expected|, in fp64 (1e30 when the shapes differ).
inline double vae_relative_error(const at::Tensor& actual, const at::Tensor& expected) {
  if (actual.sizes() != expected.sizes()) return 1e30;
  at::Tensor a = actual.to(at::kDouble), e = expected.to(at::kDouble);
  double scale = e.abs().max().item<double>();
  return (a - e).abs().max().item<double>() / (scale > 0 ? scale : 1.0);
}

// Prints and returns the relative error.
inline double vae_report(const std::string& what, const at::Tensor& actual,
                         const at::Tensor& expected) {
  double err = vae_relative_error(actual, expected);
  std::printf("    %-40s max error / absmax = %.3g\n", what.c_str(), err);
  return err;
}

}  // namespace i2v::test
