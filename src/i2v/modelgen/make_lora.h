// `i2v make-lora`: a LoRA file with random weights for a model folder's UNet (and optionally its
// text encoder), in the diffusers/PEFT or kohya layout: what the LoRA benchmarks and tests load
// on the real architecture without a trained adapter (meaningless pictures, real cost).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace i2v::modelgen {

struct MakeLoraOptions {
  std::string model;          // a pipeline folder or cached repo id
  std::filesystem::path out;  // the .safetensors file to write
  int64_t rank = 8;
  double alpha = 8;
  // Layer names (the last parts of a module path) to adapt; "all" = every linear and conv.
  std::vector<std::string> targets{"to_q", "to_k", "to_v", "to_out.0"};
  std::vector<std::string> components{"unet"};  // unet, text_encoder
  std::string layout = "peft";                  // peft | kohya
  uint64_t seed = 0;
};

struct MakeLoraReport {
  int64_t modules = 0, parameters = 0;
  uint64_t bytes = 0;
};

// ConfigError for unknown targets (none matched), components or layouts.
MakeLoraReport make_lora(const MakeLoraOptions& options);

}  // namespace i2v::modelgen
