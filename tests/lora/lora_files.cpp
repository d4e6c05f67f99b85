#include "lora/lora_files.h"

#include <map>

#include "i2v/io/safetensors.h"
#include "i2v/lora/adapter_set.h"

namespace i2v::test {
namespace {

std::string flat(std::string s) {
  for (char& c : s)
    if (c == '.') c = '_';
  return s;
}

}  // namespace

void write_lora(const std::filesystem::path& path, LoraLayout layout,
                const std::vector<TestAdapter>& adapters) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const TestAdapter& a : adapters) {
    std::string down, up, alpha;
    switch (layout) {
      case LoraLayout::Peft:
        down = a.component + "." + a.module + ".lora_A.weight";
        up = a.component + "." + a.module + ".lora_B.weight";
        alpha = a.component + "." + a.module + ".alpha";
        break;
      case LoraLayout::Kohya: {
        const std::string head =
            (a.component == "unet" ? "lora_unet_" : "lora_te_") + flat(a.module);
        down = head + ".lora_down.weight";
        up = head + ".lora_up.weight";
        alpha = head + ".alpha";
        break;
      }
      case LoraLayout::AttentionProcessor: {
        // <attn>.processor.to_q_lora.down.weight; to_out.0 is written as to_out_lora.
        std::string attn = a.module, target;
        const std::string out0 = ".to_out.0";
        if (attn.size() > out0.size() &&
            attn.compare(attn.size() - out0.size(), out0.size(), out0) == 0) {
          attn.resize(attn.size() - out0.size());
          target = "to_out";
        } else {
          const size_t dot = attn.rfind('.');
          target = attn.substr(dot + 1);
          attn.resize(dot);
        }
        const std::string head = attn + ".processor." + target + "_lora";
        down = head + ".down.weight";
        up = head + ".up.weight";
        alpha = head + ".alpha";
        break;
      }
    }
    tensors.emplace_back(down, a.down.contiguous());
    tensors.emplace_back(up, a.up.contiguous());
    if (a.alpha) tensors.emplace_back(alpha, at::full({}, *a.alpha, at::kFloat));
  }
  io::save_safetensors(path, tensors);
}

std::vector<TestAdapter> random_adapters(const torch::nn::Module& model,
                                         const std::string& component,
                                         const std::vector<std::string>& patterns, int64_t rank,
                                         uint64_t seed, std::optional<double> alpha) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  std::vector<TestAdapter> out;
  for (const auto& [name, shape] : lora::adaptable_weights(model)) {
    bool wanted = patterns.empty();
    for (const auto& p : patterns) wanted |= name.find(p) != std::string::npos;
    if (!wanted) continue;
    TestAdapter a;
    a.component = component;
    a.module = name.substr(0, name.size() - 7);  // drop ".weight"
    std::vector<int64_t> down_shape = shape, up_shape(shape.size(), 1);
    down_shape[0] = rank;
    up_shape[0] = shape[0];
    up_shape[1] = rank;
    int64_t fan_in = 1;
    for (size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
    a.down = at::randn(down_shape, gen) / std::sqrt(static_cast<double>(fan_in));
    a.up = at::randn(up_shape, gen) * 0.3;
    a.alpha = alpha;
    out.push_back(std::move(a));
  }
  return out;
}

void merge_by_hand(torch::nn::Module& model, const std::vector<TestAdapter>& adapters,
                   const std::string& component, double multiplier) {
  auto params = model.named_parameters(true);
  for (const TestAdapter& a : adapters) {
    if (a.component != component) continue;
    at::Tensor& p = params[a.module + ".weight"];
    const int64_t r = a.down.size(0);
    const double scale = multiplier * a.alpha.value_or(static_cast<double>(r)) / r;
    const at::Tensor delta = at::mm(a.up.to(at::kDouble).reshape({p.size(0), r}),
                                    a.down.to(at::kDouble).reshape({r, -1}))
                                 .reshape(p.sizes());
    p.set_data((p.to(at::kDouble) + scale * delta).to(p.scalar_type()));
  }
}

}  // namespace i2v::test
