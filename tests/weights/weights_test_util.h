// Helpers shared by the weights tests: reference listings from the golden MANIFEST, a module tree
// built from tensor names, environment overrides.
#pragma once

#include <torch/nn/module.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "i2v/weights/json_config.h"
#include "i2v/weights/state_dict.h"
#include "support/test_support.h"

namespace i2v::test {

struct ManifestTensor {
  std::string dtype;
  std::vector<int64_t> shape;
};

// The tensor listing MANIFEST.json gives for a file under golden/ (e.g.
// "pipeline/unet/diffusion_pytorch_model.safetensors"), written by the reference generator:
// independent of our safetensors reader.
inline std::map<std::string, ManifestTensor> manifest_tensors(const std::string& file) {
  static nlohmann::json manifest = weights::read_json_file(golden_dir() / "MANIFEST.json");
  std::map<std::string, ManifestTensor> out;
  const auto& entry = manifest.at("files").at(file);
  for (const auto& [name, t] : entry.at("tensors").items())
    out[name] = {t.at("dtype").get<std::string>(), t.at("shape").get<std::vector<int64_t>>()};
  return out;
}

// A module whose parameters are exactly `names` (dotted paths become nested sub-modules), each
// zero-filled with the given shape and dtype: stands in for a model class when testing loading.
inline std::shared_ptr<torch::nn::Module> module_with(
    const std::vector<std::pair<std::string, std::vector<int64_t>>>& params, at::ScalarType dtype) {
  auto root = std::make_shared<torch::nn::Module>();
  for (const auto& [name, shape] : params) {
    torch::nn::Module* m = root.get();
    size_t start = 0;
    for (size_t dot; (dot = name.find('.', start)) != std::string::npos; start = dot + 1) {
      std::string part = name.substr(start, dot - start);
      auto children = m->named_children();
      if (auto* child = children.find(part)) {
        m = child->get();
      } else {
        m = m->register_module(part, std::make_shared<torch::nn::Module>()).get();
      }
    }
    m->register_parameter(name.substr(start), at::zeros(shape, at::TensorOptions().dtype(dtype)));
  }
  return root;
}

inline std::shared_ptr<torch::nn::Module> module_like(const weights::StateDict& sd,
                                                      at::ScalarType dtype) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> params;
  for (const auto& n : sd.names()) params.push_back({n, sd.info(n).shape});
  return module_with(params, dtype);
}

// Sets (or with nullopt unsets) an environment variable for the object's lifetime.
class ScopedEnv {
 public:
  ScopedEnv(const std::string& name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name.c_str())) old_ = old;
    if (value)
      setenv(name.c_str(), value->c_str(), 1);
    else
      unsetenv(name.c_str());
  }
  ~ScopedEnv() {
    if (old_)
      setenv(name_.c_str(), old_->c_str(), 1);
    else
      unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace i2v::test
