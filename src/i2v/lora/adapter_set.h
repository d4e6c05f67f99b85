// Matching LoRA files against a model: every adapter of every file must name a weight the model
// has (kohya's flat names are resolved against the model's real module paths, so 3-D names such as
// temp_attentions, transformer_in, temp_convs and image_latents_* work) with shapes that fit it.
// The result is what the pipeline attaches to its models (lora/attachment.h).
#pragma once

#include <torch/nn/module.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "i2v/lora/layer_adapter.h"
#include "i2v/lora/lora_file.h"

namespace i2v::lora {

// What a model offers to adapt: per component ("unet", "text_encoder"), the weights of its
// linear and convolution layers (parameter name -> shape). Embedding tables are not adaptable.
using TargetCatalog = std::map<std::string, std::map<std::string, std::vector<int64_t>>>;
std::map<std::string, std::vector<int64_t>> adaptable_weights(const torch::nn::Module& model);
// The rule behind it, for a weight known by name and shape only (e.g. from a file header).
bool is_adaptable(const std::string& name, at::IntArrayRef shape);

// One LoRA as asked for: the file and its multiplier (the CLI's FILE:SCALE).
struct LoraChoice {
  std::shared_ptr<const LoraFile> file;
  double multiplier = 1.0;
};

// What a generation records about each LoRA it ran with.
struct LoraSummary {
  std::string file;  // file name (no folder)
  std::string path, sha256, layout;
  double multiplier = 1.0;
  std::map<std::string, int> modules;  // adapted weights per component
};

struct AdapterSet {
  std::map<std::string, ComponentAdapters> components;
  std::vector<LoraSummary> loras;
  bool empty() const { return components.empty(); }
  int64_t bytes() const;
};

// ConfigError naming the file and listing every problem (unknown modules, keys of other kinds,
// an up without a down, shapes that do not fit the weight, ranks that disagree) when any LoRA does
// not fit the model.
AdapterSet resolve(const std::vector<LoraChoice>& choices, const TargetCatalog& catalog);

}  // namespace i2v::lora
