// model_index.json of a diffusers pipeline folder: the pipeline class and, per component, the
// library and class that load it (e.g. "unet": ["diffusers", "I2VGenXLUNet"]).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace i2v::weights {

struct ComponentSpec {
  std::string name;        // the sub-folder, e.g. "unet"
  std::string library;     // "diffusers" or "transformers" (or another library name)
  std::string class_name;  // e.g. "I2VGenXLUNet"
};

struct ModelIndex {
  std::string class_name;         // "_class_name", e.g. "I2VGenXLPipeline"
  std::string diffusers_version;  // "_diffusers_version" ("" when absent)
  // Components by name (sorted). Entries saved as [null, null] (an optional component left
  // out) are not listed.
  std::map<std::string, ComponentSpec> components;

  bool has(const std::string& name) const { return components.count(name) != 0; }
  // The component, or a ConfigError listing the ones the pipeline has.
  const ComponentSpec& component(const std::string& name) const;
  std::vector<std::string> names() const;

  // Throws ConfigError (naming `source`) on a malformed index.
  static ModelIndex parse(const nlohmann::json& j, const std::string& source);
  static ModelIndex load(const std::filesystem::path& file);
};

}  // namespace i2v::weights
