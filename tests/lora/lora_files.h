// Writing LoRA files for tests, in each layout people publish, from adapters given as module
// paths and tensors (the test's stand-in for a training script's output).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace i2v::test {

enum class LoraLayout { Peft, Kohya, AttentionProcessor };

struct TestAdapter {
  std::string component = "unet";  // or "text_encoder"
  std::string module;              // dotted path of the layer ("...attn1.to_q")
  at::Tensor down, up;             // A [r, in, k...], B [out, r, 1...]
  std::optional<double> alpha;
};

void write_lora(const std::filesystem::path& path, LoraLayout layout,
                const std::vector<TestAdapter>& adapters);

// Random rank-`rank` adapters for the weights of `model` whose names contain one of `patterns`
// (all adaptable weights when empty); `seed` fixes them. Sizes chosen so that the delta is a
// sizeable fraction of the weight (the tests must see the LoRA).
std::vector<TestAdapter> random_adapters(const torch::nn::Module& model,
                                         const std::string& component,
                                         const std::vector<std::string>& patterns, int64_t rank,
                                         uint64_t seed, std::optional<double> alpha = std::nullopt);

// The float64 reference: every adapted weight of `model` replaced by
// float(W + multiplier * alpha / r * up @ down), computed in float64.
void merge_by_hand(torch::nn::Module& model, const std::vector<TestAdapter>& adapters,
                   const std::string& component, double multiplier);

}  // namespace i2v::test
