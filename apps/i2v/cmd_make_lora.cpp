// `i2v make-lora`: a random-weight LoRA for a model (benchmarks and tests on the real
// architecture; the pictures it gives are meaningless).
#include <sstream>

#include <spdlog/spdlog.h>

#include "command_registry.h"
#include "i2v/modelgen/make_lora.h"

namespace i2v::cli {
namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

RegisterCommand reg(56, [](CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand(
      "make-lora", "Write a LoRA file with random weights for a model (for benchmarks and tests)");
  struct Args {
    std::string model, out, targets = "to_q,to_k,to_v,to_out.0", components = "unet",
                            layout = "peft";
    int64_t rank = 8;
    double alpha = 8;
    uint64_t seed = 0;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--model", a->model, "Model folder or cached repo id")->required();
  cmd->add_option("--out", a->out, "The .safetensors file to write")->required();
  cmd->add_option("--rank", a->rank, "LoRA rank")->capture_default_str();
  cmd->add_option("--alpha", a->alpha, "LoRA alpha (scale = alpha / rank)")->capture_default_str();
  cmd->add_option("--targets", a->targets,
                  "Comma-separated layer names to adapt (last parts of module paths), or all")
      ->capture_default_str();
  cmd->add_option("--components", a->components, "unet and/or text_encoder")->capture_default_str();
  cmd->add_option("--layout", a->layout, "peft (diffusers) or kohya")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Random seed")->capture_default_str();
  run = [a] {
    modelgen::MakeLoraOptions o;
    o.model = a->model;
    o.out = a->out;
    o.rank = a->rank;
    o.alpha = a->alpha;
    o.targets = split_list(a->targets);
    o.components = split_list(a->components);
    o.layout = a->layout;
    o.seed = a->seed;
    const modelgen::MakeLoraReport r = modelgen::make_lora(o);
    spdlog::info("wrote {}: {} adapted layers, {} parameters, {:.1f} MiB", a->out, r.modules,
                 r.parameters, r.bytes / 1048576.0);
    return 0;
  };
});

}  // namespace
}  // namespace i2v::cli
