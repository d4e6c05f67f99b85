#include "i2v/modelgen/make_lora.h"

#include <cmath>

#include "i2v/error.h"
#include "i2v/io/safetensors.h"
#include "i2v/lora/adapter_set.h"
#include "i2v/weights/model_dir.h"
#include "i2v/weights/weight_files.h"

namespace i2v::modelgen {
namespace {

bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

std::string flat(std::string s) {
  for (char& c : s)
    if (c == '.') c = '_';
  return s;
}

}  // namespace

MakeLoraReport make_lora(const MakeLoraOptions& o) {
  if (o.rank < 1 || o.rank > 1024) throw ConfigError("--rank must be between 1 and 1024");
  if (o.layout != "peft" && o.layout != "kohya")
    throw ConfigError("--layout must be peft or kohya (got '" + o.layout + "')");
  const weights::ModelDir dir = weights::ModelDir::open(o.model);
  at::Generator gen = at::detail::createCPUGenerator(o.seed);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  MakeLoraReport report;
  const bool all = o.targets.size() == 1 && o.targets[0] == "all";
  for (const std::string& component : o.components) {
    if (component != "unet" && component != "text_encoder")
      throw ConfigError("LoRA components are unet and text_encoder (got '" + component + "')");
    const weights::WeightFiles files = weights::find_weight_files(
        dir.component_dir(component), component == "unet" ? "diffusers" : "transformers", {});
    const weights::StateDict sd = weights::open_weight_files(files);
    for (const std::string& name : sd.names()) {
      const std::vector<int64_t> shape = sd.info(name).shape;
      if (!lora::is_adaptable(name, shape)) continue;
      const std::string module = name.substr(0, name.size() - 7);
      bool wanted = all;
      for (const auto& t : o.targets) wanted |= ends_with(module, "." + t);
      if (!wanted) continue;
      std::vector<int64_t> down_shape = shape, up_shape(shape.size(), 1);
      down_shape[0] = o.rank;
      up_shape[0] = shape[0];
      up_shape[1] = o.rank;
      int64_t fan_in = 1;
      for (size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
      at::Tensor down = at::randn(down_shape, gen) / std::sqrt(static_cast<double>(fan_in));
      at::Tensor up = at::randn(up_shape, gen) * (0.1 / std::sqrt(static_cast<double>(o.rank)));
      const std::string head =
          o.layout == "kohya" ? (component == "unet" ? "lora_unet_" : "lora_te_") + flat(module)
                              : component + "." + module;
      const bool kohya = o.layout == "kohya";
      tensors.emplace_back(head + (kohya ? ".lora_down.weight" : ".lora_A.weight"), down);
      tensors.emplace_back(head + (kohya ? ".lora_up.weight" : ".lora_B.weight"), up);
      tensors.emplace_back(head + ".alpha", at::full({}, o.alpha, at::kFloat));
      ++report.modules;
      report.parameters += down.numel() + up.numel();
    }
  }
  if (report.modules == 0) throw ConfigError("no layer of the model matches the LoRA targets");
  io::save_safetensors(o.out, tensors, {{"i2v_lora", "random weights (i2v make-lora)"}});
  std::error_code ec;
  report.bytes = std::filesystem::file_size(o.out, ec);
  return report;
}

}  // namespace i2v::modelgen
