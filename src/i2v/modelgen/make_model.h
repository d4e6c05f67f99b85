// `i2v make-model`: a model with random weights in the diffusers on-disk layout, from a folder of
// configs (e.g. the official I2VGen-XL configs give the real architecture for benchmarks).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace i2v::modelgen {

struct MakeModelOptions {
  std::filesystem::path config_dir;   // has model_index.json and one folder per component
  std::filesystem::path out_dir;      // must not exist (or be empty) unless overwrite
  at::ScalarType dtype = at::kFloat;  // stored precision: Float, Half or BFloat16
  uint64_t seed = 0;
  bool overwrite = false;
};

struct ComponentReport {
  std::string name;        // "unet"
  std::string class_name;  // "I2VGenXLUNet"
  int64_t parameters = 0;  // elements
  int64_t tensors = 0;
  uint64_t bytes = 0;  // of the written weights file
  double seconds = 0;
};

// Writes the model, streaming one tensor at a time (memory bounded by the largest tensor). The
// model is assembled in `<out_dir>.partial` and renamed into place only when complete.
std::vector<ComponentReport> make_model(const MakeModelOptions& options);

}  // namespace i2v::modelgen
