#include "i2v/weights/model_dir.h"

#include "i2v/error.h"
#include "i2v/weights/hf_cache.h"
#include "i2v/weights/json_config.h"

namespace i2v::weights {
namespace fs = std::filesystem;

namespace {

constexpr const char* kIndexName = "model_index.json";
const std::vector<std::string> kConfigNames = {"config.json", "scheduler_config.json",
                                               "preprocessor_config.json", "tokenizer_config.json"};

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

}  // namespace

ModelDir ModelDir::open(const std::string& model, const std::string& revision) {
  if (model.empty()) throw ConfigError("no model given (a pipeline folder or a repo id ORG/NAME)");
  ModelDir dir;
  std::error_code ec;
  fs::path as_path(model);
  // The model_index.json file itself names its folder.
  if (as_path.filename() == kIndexName && is_file(as_path)) as_path = as_path.parent_path();
  if (as_path.empty()) as_path = ".";
  if (fs::is_directory(as_path, ec)) {
    if (is_file(as_path / kIndexName)) {
      dir.root_ = fs::absolute(as_path, ec);
      dir.description_ = dir.root_.string();
    } else if (fs::is_directory(as_path / "snapshots", ec)) {
      // A cached repo folder (models--ORG--NAME) given directly.
      fs::path repo = fs::absolute(as_path, ec).lexically_normal();
      if (repo.filename().empty()) repo = repo.parent_path();
      std::string folder = repo.filename().string();
      auto sep = folder.find("--", 8);
      if (folder.rfind("models--", 0) != 0 || sep == std::string::npos)
        throw IoError(as_path.string() +
                      " has snapshots/ but is not a models--ORG--NAME cache folder");
      std::string repo_id = folder.substr(8, sep - 8) + "/" + folder.substr(sep + 2);
      CachedSnapshot snap = find_cached_snapshot(repo.parent_path(), repo_id, revision);
      if (!is_file(snap.folder / kIndexName))
        throw IoError(snap.folder.string() + " has no " + kIndexName +
                      ": not a diffusers pipeline");
      dir.root_ = snap.folder;
      dir.description_ = repo_id + " (" + repo.string() + ", commit " + snap.commit + ")";
    } else {
      throw IoError(as_path.string() + " is not a diffusers pipeline folder: it has no " +
                    kIndexName);
    }
  } else if (is_repo_id(model)) {
    std::string why;
    fs::path cache = hub_cache_dir(&why);
    CachedSnapshot snap;
    try {
      snap = find_cached_snapshot(cache, model, revision);
    } catch (const IoError& e) {
      throw IoError(std::string(e.what()) + "; there is no local folder '" + model + "' either");
    }
    if (!is_file(snap.folder / kIndexName))
      throw IoError("model '" + model + "' in the Hugging Face cache (" + snap.folder.string() +
                    ") has no " + kIndexName +
                    ": not a diffusers pipeline, or not fully downloaded");
    dir.root_ = snap.folder;
    dir.description_ = model + " (Hugging Face cache " + cache.string() + " from " + why +
                       ", commit " + snap.commit + ")";
  } else {
    throw IoError("model '" + model + "' is neither an existing folder nor a repo id ORG/NAME");
  }
  dir.index_ = ModelIndex::load(dir.root_ / kIndexName);
  return dir;
}

fs::path ModelDir::component_dir(const std::string& name) const {
  index_.component(name);  // throws if the pipeline has no such component
  fs::path p = root_ / name;
  std::error_code ec;
  if (!fs::is_directory(p, ec))
    throw IoError("component '" + name + "' is listed in " + (root_ / kIndexName).string() +
                  " but its folder " + p.string() + " does not exist");
  return p;
}

fs::path ModelDir::config_path(const std::string& name) const {
  fs::path folder = component_dir(name);
  for (const auto& c : kConfigNames)
    if (is_file(folder / c)) return folder / c;
  std::string list;
  for (const auto& c : kConfigNames) list += (list.empty() ? "" : ", ") + c;
  throw IoError("component '" + name + "' has no configuration file in " + folder.string() +
                " (looked for " + list + ")");
}

nlohmann::json ModelDir::config(const std::string& name) const {
  return read_json_file(config_path(name));
}

std::vector<WeightFiles> ModelDir::available_weights(const std::string& name) const {
  return list_weight_files(component_dir(name), index_.component(name).library);
}

bool ModelDir::has_weights(const std::string& name) const {
  if (!available_weights(name).empty()) return true;
  // Pickle-only weights still count: asking for them gives the "only safetensors" error.
  try {
    weight_files(name);
  } catch (const FormatError&) {
    return true;
  } catch (const IoError&) {
    return false;
  }
  return true;
}

WeightFiles ModelDir::weight_files(const std::string& name, const VariantPolicy& policy) const {
  return find_weight_files(component_dir(name), index_.component(name).library, policy);
}

StateDict ModelDir::open_weights(const std::string& name, const VariantPolicy& policy) const {
  return open_weight_files(weight_files(name, policy));
}

void ModelDir::load_into(torch::nn::Module& module, const std::string& name,
                         const VariantPolicy& policy, const LoadOptions& options) const {
  load_state_dict_strict(module, open_weights(name, policy), name, options);
}

}  // namespace i2v::weights
