#include "i2v/weights/model_index.h"

#include "i2v/error.h"
#include "i2v/weights/json_config.h"

namespace i2v::weights {

const ComponentSpec& ModelIndex::component(const std::string& name) const {
  auto it = components.find(name);
  if (it != components.end()) return it->second;
  std::string list;
  for (const auto& [n, spec] : components) list += (list.empty() ? "" : ", ") + n;
  throw ConfigError("the pipeline " + class_name + " has no component '" + name +
                    "' (it has: " + list + ")");
}

std::vector<std::string> ModelIndex::names() const {
  std::vector<std::string> out;
  for (const auto& [n, spec] : components) out.push_back(n);
  return out;
}

ModelIndex ModelIndex::parse(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw ConfigError(source + ": model_index.json must hold a JSON object");
  ModelIndex index;
  index.class_name = get_required<std::string>(j, "_class_name", source);
  index.diffusers_version = get_or<std::string>(j, "_diffusers_version", "", source);
  for (const auto& [key, value] : j.items()) {
    if (key.empty() || key[0] == '_') continue;  // _class_name, _diffusers_version, _name_or_path
    // Components are [library, class]; other keys (pipeline flags such as
    // "requires_safety_checker": true) are not components.
    if (!value.is_array()) continue;
    if (value.size() != 2)
      throw ConfigError(source + ": component '" + key + "' must be [library, class], got " +
                        value.dump());
    if (value[0].is_null() && value[1].is_null()) continue;  // optional component left out
    if (!value[0].is_string() || !value[1].is_string())
      throw ConfigError(source + ": component '" + key +
                        "' must be [library, class] strings, got " + value.dump());
    index.components[key] = {key, value[0].get<std::string>(), value[1].get<std::string>()};
  }
  if (index.components.empty())
    throw ConfigError(source + ": model_index.json lists no components");
  return index;
}

ModelIndex ModelIndex::load(const std::filesystem::path& file) {
  return parse(read_json_file(file), file.string());
}

}  // namespace i2v::weights
