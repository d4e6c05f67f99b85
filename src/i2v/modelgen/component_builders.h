// Builds each network of a diffusers pipeline from its component folder's config.json, by the class
// name model_index.json gives it. Used to learn parameter shapes (make-model) and by loaders.
#pragma once

#include <torch/nn/module.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace i2v::modelgen {

struct ComponentKind {
  std::string class_name;    // e.g. "I2VGenXLUNet"
  std::string weights_name;  // file stem: "diffusion_pytorch_model" or "model"
};

// The classes i2v can build; nullptr for others (tokenizer, scheduler, feature extractor ...).
const ComponentKind* find_component_kind(const std::string& class_name);

// Builds the network from `component_dir`/config.json. Throws ConfigError for unknown classes.
std::shared_ptr<torch::nn::Module> build_component(const std::string& class_name,
                                                   const std::filesystem::path& component_dir);

}  // namespace i2v::modelgen
