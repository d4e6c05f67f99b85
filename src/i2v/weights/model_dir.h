// A diffusers pipeline on disk: resolves the user's --model argument (a folder with
// model_index.json, or a hub repo id found offline in the Hugging Face cache) and gives each
// component's folder, config and weight files.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "i2v/weights/model_index.h"
#include "i2v/weights/state_dict.h"
#include "i2v/weights/weight_files.h"

namespace i2v::weights {

class ModelDir {
 public:
  // `model`: a path to a pipeline folder (or to a cached repo's models--ORG--NAME folder), or a
  // repo id "ORG/NAME" looked up in hub_cache_dir() at `revision` (a branch, tag or commit).
  // An existing path wins over a repo id of the same spelling. Throws IoError saying where it
  // looked when nothing is found, ConfigError/FormatError for a broken model_index.json.
  static ModelDir open(const std::string& model, const std::string& revision = "main");

  const std::filesystem::path& root() const { return root_; }
  const ModelIndex& index() const { return index_; }
  // How the folder was found, e.g. "ali-vilab/i2vgen-xl (Hugging Face cache, commit 1234abcd...)".
  const std::string& description() const { return description_; }

  // The component's folder (ConfigError if the index lacks it, IoError if the folder is absent).
  std::filesystem::path component_dir(const std::string& name) const;
  // Its configuration file: config.json, scheduler_config.json, preprocessor_config.json or
  // tokenizer_config.json, whichever exists (IoError listing them if none).
  std::filesystem::path config_path(const std::string& name) const;
  nlohmann::json config(const std::string& name) const;

  // Whether the component is one that has weights (a model, not a tokenizer or scheduler):
  // its folder holds weight files of some kind.
  bool has_weights(const std::string& name) const;
  std::vector<WeightFiles> available_weights(const std::string& name) const;
  WeightFiles weight_files(const std::string& name, const VariantPolicy& policy = {}) const;
  StateDict open_weights(const std::string& name, const VariantPolicy& policy = {}) const;
  // Opens the component's weights (per `policy`) and strict-loads them into `module`
  // (load_state_dict_strict, with the component's name in errors).
  void load_into(torch::nn::Module& module, const std::string& name,
                 const VariantPolicy& policy = {}, const LoadOptions& options = {}) const;

 private:
  std::filesystem::path root_;
  ModelIndex index_;
  std::string description_;
};

}  // namespace i2v::weights
