#include "i2v/lora/adapter_set.h"

#include <sstream>

#include "i2v/error.h"

namespace i2v::lora {
namespace {

bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

std::string shape_text(at::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}
std::string shape_text(const std::vector<int64_t>& s) {
  return shape_text(at::IntArrayRef(s));
}

std::string flat_name(std::string dotted) {
  for (char& c : dotted)
    if (c == '.') c = '_';
  return dotted;
}

// Checks one adapter against its weight; "" when it fits, else why not.
std::string misfit(const FileAdapter& a, const std::vector<int64_t>& w) {
  if (!a.up.defined() || !a.down.defined())
    return std::string("has ") +
           (a.up.defined() ? "an up (B) but no down (A)" : "a down (A) but no up (B)");
  const at::Tensor &up = a.up, &down = a.down;
  if (down.dim() < 2 || up.dim() < 2) return "up/down must have at least 2 dimensions";
  const int64_t r = down.size(0), out = w[0], in = w[1];
  int64_t k = 1;
  for (size_t i = 2; i < w.size(); ++i) k *= w[i];
  std::ostringstream why;
  why << "down (A) " << shape_text(down.sizes()) << " and up (B) " << shape_text(up.sizes())
      << " do not fit the weight " << shape_text(w);
  if (up.size(0) != out || up.size(1) != r || up.numel() != out * r) return why.str();
  if (down.size(1) != in || down.numel() != r * in * k) return why.str();
  // A conv LoRA keeps the kernel on down; a linear-shaped one fits a 1x1 kernel only.
  if (down.dim() > 2 && !at::IntArrayRef(w).slice(2).equals(down.sizes().slice(2)))
    return why.str();
  if (a.alpha.defined() && a.alpha.numel() != 1)
    return "alpha must be a single number, got shape " + shape_text(a.alpha.sizes());
  return "";
}

}  // namespace

bool is_adaptable(const std::string& name, at::IntArrayRef shape) {
  if (!ends_with(name, ".weight") || shape.size() < 2) return false;
  // Tables and the patch embedding: no LoRA layer there.
  return !ends_with(name, "token_embedding.weight") &&
         !ends_with(name, "position_embedding.weight") &&
         !ends_with(name, "patch_embedding.weight");
}

std::map<std::string, std::vector<int64_t>> adaptable_weights(const torch::nn::Module& model) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& p : model.named_parameters(/*recurse=*/true))
    if (is_adaptable(p.key(), p.value().sizes())) out[p.key()] = p.value().sizes().vec();
  return out;
}

int64_t AdapterSet::bytes() const {
  int64_t n = 0;
  for (const auto& [c, a] : components) n += adapter_bytes(a);
  return n;
}

AdapterSet resolve(const std::vector<LoraChoice>& choices, const TargetCatalog& catalog) {
  // kohya's flat names -> real parameter names, per component
  std::map<std::string, std::map<std::string, std::string>> flat;
  for (const auto& [component, weights] : catalog)
    for (const auto& [name, shape] : weights)
      flat[component][flat_name(name.substr(0, name.size() - 7))] = name;

  AdapterSet set;
  for (const LoraChoice& choice : choices) {
    const LoraFile& f = *choice.file;
    std::vector<std::string> problems = f.problems;
    LoraSummary summary;
    summary.file = f.path.filename().string();
    summary.path = f.path.string();
    summary.sha256 = f.sha256;
    summary.layout = f.layout;
    summary.multiplier = choice.multiplier;
    std::map<std::string, ComponentAdapters> mine;
    for (const FileAdapter& a : f.adapters) {
      auto weights = catalog.find(a.component);
      if (weights == catalog.end()) {
        problems.push_back(a.key + ": the model has no " + a.component + " to adapt");
        continue;
      }
      std::string name;
      if (a.flat) {
        auto it = flat[a.component].find(a.module);
        if (it != flat[a.component].end()) name = it->second;
      } else if (weights->second.count(a.module + ".weight")) {
        name = a.module + ".weight";
      }
      if (name.empty()) {
        problems.push_back(a.key + ": no linear or convolution layer '" + a.module + "' in the " +
                           a.component);
        continue;
      }
      const std::vector<int64_t>& shape = weights->second.at(name);
      const std::string why = misfit(a, shape);
      if (!why.empty()) {
        problems.push_back(a.key + ": " + why);
        continue;
      }
      const int64_t r = a.down.size(0);
      const double alpha = a.alpha.defined() ? a.alpha.item<double>() : static_cast<double>(r);
      LayerAdapter la;
      la.up = a.up.reshape({shape[0], r}).contiguous();
      la.down = a.down.reshape({r, -1}).contiguous();
      la.scale = choice.multiplier * alpha / static_cast<double>(r);
      mine[a.component][name].push_back(std::move(la));
      ++summary.modules[a.component];
    }
    if (!problems.empty()) {
      std::ostringstream msg;
      msg << "LoRA file " << f.path.string() << " does not fit this model (" << problems.size()
          << " problem" << (problems.size() == 1 ? "" : "s") << "):";
      const size_t shown = std::min<size_t>(problems.size(), 20);
      for (size_t i = 0; i < shown; ++i) msg << "\n  " << problems[i];
      if (shown < problems.size()) msg << "\n  ... and " << problems.size() - shown << " more";
      throw ConfigError(msg.str());
    }
    for (auto& [component, adapters] : mine)
      for (auto& [name, list] : adapters)
        for (auto& la : list) set.components[component][name].push_back(std::move(la));
    set.loras.push_back(std::move(summary));
  }
  return set;
}

}  // namespace i2v::lora
