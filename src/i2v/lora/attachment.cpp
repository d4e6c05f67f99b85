#include "i2v/lora/attachment.h"

#include <ATen/core/grad_mode.h>

#include "i2v/error.h"
#include "i2v/lora/runtime_adapters.h"
#include "i2v/quant/quantized_weight.h"

namespace i2v::lora {
namespace {

std::vector<std::pair<at::Tensor, const std::vector<LayerAdapter>*>> targets(
    torch::nn::Module& model, const ComponentAdapters& adapters) {
  auto params = model.named_parameters(/*recurse=*/true);
  std::vector<std::pair<at::Tensor, const std::vector<LayerAdapter>*>> out;
  std::vector<std::string> missing;
  for (const auto& [name, list] : adapters) {
    if (const at::Tensor* p = params.find(name)) {
      out.emplace_back(*p, &list);
    } else {
      missing.push_back(name);
    }
  }
  if (!missing.empty())
    throw ConfigError("LoRA names " + std::to_string(missing.size()) +
                      " weights the model does not have, e.g. " + missing.front());
  return out;
}

}  // namespace

Mode parse_mode(const std::string& s) {
  if (s == "auto" || s.empty()) return Mode::Auto;
  if (s == "merged") return Mode::Merged;
  if (s == "unmerged") return Mode::Unmerged;
  throw ConfigError("LoRA mode must be auto, merged or unmerged (got '" + s + "')");
}

std::string to_string(Mode m) {
  switch (m) {
    case Mode::Merged:
      return "merged";
    case Mode::Unmerged:
      return "unmerged";
    case Mode::Auto:
      break;
  }
  return "auto";
}

Attachment::Attachment(torch::nn::Module& model, const ComponentAdapters& adapters, Mode mode) {
  const auto all = targets(model, adapters);
  if (mode == Mode::Merged)
    for (const auto& [param, a] : all)
      if (!param.is_floating_point())
        throw ConfigError("a merged LoRA needs plain weights, but " +
                          std::string(quant::quantization_of(param) ? "8-bit" : "integer") +
                          " weights are loaded: use the unmerged mode (--lora-mode unmerged)");
  at::NoGradGuard no_grad;
  try {
    for (const auto& [param, a] : all) {
      if (mode == Mode::Unmerged || !param.is_floating_point()) {  // Auto: 8-bit stays unmerged
        attach_runtime(param, *a);
        runtime_.push_back(param);
      } else {
        at::Tensor own = param.variable_data();
        param.set_data(with_deltas(own, *a));
        merged_.emplace_back(param, std::move(own));
      }
    }
  } catch (...) {  // out of memory half-way: the model gets all its own weights back
    for (auto& [param, own] : merged_) param.set_data(own);
    for (const auto& param : runtime_) detach_runtime(param);
    throw;
  }
}

std::string Attachment::modes() const {
  if (merged_.empty()) return "unmerged";
  return runtime_.empty() ? "merged" : "merged+unmerged";
}

Attachment::~Attachment() {
  for (auto& [param, own] : merged_) param.set_data(own);
  for (const auto& param : runtime_) detach_runtime(param);
}

}  // namespace i2v::lora
