#include "i2v/models/vae/legacy_attention_names.h"

#include <ATen/ATen.h>

#include <array>
#include <memory>
#include <utility>
#include <vector>

namespace i2v::vae {

namespace {

// {new, old} names of the attention projections (diffusers' _convert_deprecated_attention_blocks).
constexpr std::array<std::pair<const char*, const char*>, 4> kRenames{{
    {"to_q", "query"},
    {"to_k", "key"},
    {"to_v", "value"},
    {"to_out.0", "proj_attn"},
}};

// "<prefix>.attentions.<i>.<new>.<param>" -> "<prefix>.attentions.<i>.<old>.<param>"; "" when
// `name` is not an attention projection parameter.
std::string legacy_name(const std::string& name) {
  const std::string marker = ".attentions.";
  size_t at = name.find(marker);
  if (at == std::string::npos) return "";
  size_t index_end = name.find('.', at + marker.size());
  if (index_end == std::string::npos) return "";
  const std::string head = name.substr(0, index_end + 1), tail = name.substr(index_end + 1);
  for (const auto& [fresh, old] : kRenames) {
    const std::string f = std::string(fresh) + ".";
    if (tail.compare(0, f.size(), f) == 0) return head + old + "." + tail.substr(f.size());
  }
  return "";
}

// The child `name` of `parent`, created (as an empty module) if absent.
torch::nn::Module& child(torch::nn::Module& parent, const std::string& name) {
  if (auto* found = parent.named_children().find(name)) return **found;
  return *parent.register_module(name, std::make_shared<torch::nn::Module>());
}

// Registers `value` in the tree under the dotted `name` (modules along the path are created).
void register_dotted(torch::nn::Module& root, const std::string& name, const at::Tensor& value) {
  torch::nn::Module* m = &root;
  size_t start = 0;
  for (size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', start)) {
    m = &child(*m, name.substr(start, dot - start));
    start = dot + 1;
  }
  m->register_parameter(name.substr(start), value, /*requires_grad=*/false);
}

}  // namespace

bool has_legacy_attention_names(const weights::StateDict& weights) {
  for (const auto& name : weights.names()) {
    for (const auto& [fresh, old] : kRenames) {
      const std::string piece = std::string(".") + old + ".";
      if (name.find(".attentions.") != std::string::npos && name.find(piece) != std::string::npos)
        return true;
    }
  }
  return false;
}

void load_with_legacy_attention_names(torch::nn::Module& module, const weights::StateDict& weights,
                                      const std::string& component,
                                      const weights::LoadOptions& options) {
  // A stand-in module tree with the files' names (and shapes, for 1x1-conv matrices) whose
  // parameters are loaded strictly and then handed to the real parameters.
  torch::nn::Module shadow;
  std::vector<std::pair<at::Tensor, at::Tensor>> targets;  // (real parameter, stand-in)
  for (auto& item : module.named_parameters()) {
    const std::string& name = item.key();
    at::Tensor& param = item.value();
    std::string file_name = name;
    std::vector<int64_t> shape = param.sizes().vec();
    const std::string old = legacy_name(name);
    if (!old.empty() && !weights.contains(options.prefix + name) &&
        weights.contains(options.prefix + old)) {
      file_name = old;
      const auto& file_shape = weights.info(options.prefix + old).shape;
      if (param.dim() == 2 && file_shape.size() == 4 && file_shape[2] == 1 && file_shape[3] == 1 &&
          file_shape[0] == shape[0] && file_shape[1] == shape[1])
        shape = file_shape;
    }
    at::Tensor stand_in = at::empty(shape, param.options());
    register_dotted(shadow, file_name, stand_in);
    targets.emplace_back(param, stand_in);
  }
  weights::load_state_dict_strict(shadow, weights, component, options);
  at::NoGradGuard no_grad;
  for (auto& [param, stand_in] : targets) param.set_data(stand_in.reshape(param.sizes()));
}

}  // namespace i2v::vae
