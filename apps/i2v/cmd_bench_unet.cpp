// `i2v bench unet`: times UNet forwards on random inputs (e.g. the real architecture written by
// make-model) and prints one JSON object, so numbers from any machine compare by script.
#include <algorithm>
#include <chrono>
#include <iostream>

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <nlohmann/json.hpp>

#include "command_registry.h"
#include "i2v/core/error.h"
#include "i2v/core/runtime.h"
#include "i2v/models/unet/i2vgen_xl_unet.h"
#include "i2v/weights/model_dir.h"

namespace i2v::cli {
namespace {

at::ScalarType parse_precision(const std::string& s) {
  if (s == "fp32") return at::kFloat;
  if (s == "bf16") return at::kBFloat16;
  throw ConfigError("--precision must be fp32 or bf16 (got '" + s + "')");
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

RegisterCommand reg(60, [](CLI::App& app, std::function<int()>& run) {
  auto* bench = app.add_subcommand("bench", "Benchmarks that print numbers");
  auto* unet = bench->add_subcommand("unet", "Time UNet forward passes on random inputs");
  struct Args {
    std::string model, precision = "bf16";
    int size = 256, frames = 8, batch = 2, runs = 3, warmup = 1;
    bool json = false;
    std::string profile;
  };
  auto a = std::make_shared<Args>();
  unet->add_option("--model", a->model, "Model folder or repo id (e.g. from make-model)")
      ->required();
  unet->add_option("--precision", a->precision, "fp32 or bf16")->capture_default_str();
  unet->add_option("--size", a->size, "Video width and height in pixels (latents are 1/8)")
      ->capture_default_str();
  unet->add_option("--frames", a->frames, "Frames")->capture_default_str();
  unet->add_option("--batch", a->batch, "Batch (2 = classifier-free guidance)")
      ->capture_default_str();
  unet->add_option("--runs", a->runs, "Timed runs after the warm-up")->capture_default_str();
  unet->add_option("--warmup", a->warmup, "Untimed runs first")->capture_default_str();
  unet->add_flag("--json", a->json, "Print only the JSON object");
  unet->add_option(
      "--profile", a->profile,
      "Also run one forward under libtorch's profiler and write its trace (JSON) here");
  bench->require_subcommand(1);
  run = [a] {
    if (a->size < 8 || a->size % 8 || a->frames < 1 || a->batch < 1 || a->runs < 1) {
      throw ConfigError("bench: --size must be a positive multiple of 8; frames, batch, runs >= 1");
    }
    const at::ScalarType dtype = parse_precision(a->precision);
    torch::NoGradGuard no_grad;
    auto t_load = std::chrono::steady_clock::now();
    auto dir = weights::ModelDir::open(a->model);
    unet::I2VGenXLUNet model(unet::UNetConfig::from_json(dir.config("unet"), "unet/config.json"));
    model->to(dtype);
    weights::VariantPolicy policy;
    policy.compute_dtype = dtype;
    weights::LoadOptions load;
    load.dtype = dtype;
    dir.load_into(*model, "unet", policy, load);
    model->eval();
    const double load_s = seconds_since(t_load);

    const auto& c = model->config();
    const int64_t b = a->batch, f = a->frames, h = a->size / 8, w = a->size / 8;
    auto opts = at::TensorOptions().dtype(dtype);
    unet::UNetInputs in{at::randn({b, c.in_channels, f, h, w}, opts),
                        at::scalar_tensor(500, at::kLong),
                        at::full({b}, 8, at::kLong),
                        at::randn({b, c.in_channels, f, h, w}, opts),
                        at::randn({b, 1, c.cross_attention_dim}, opts),
                        at::randn({b, 77, c.cross_attention_dim}, opts)};
    for (int i = 0; i < a->warmup; ++i) model->forward(in);
    std::vector<double> runs;
    for (int i = 0; i < a->runs; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      at::Tensor out = model->forward(in);
      runs.push_back(seconds_since(t0));
      if (!a->json) std::cerr << "run " << i + 1 << ": " << runs.back() << " s\n";
    }
    if (!a->profile.empty()) {
      torch::autograd::profiler::RecordProfile guard(a->profile);
      model->forward(in);
    }
    std::vector<double> sorted = runs;
    std::sort(sorted.begin(), sorted.end());
    nlohmann::json j = {{"bench", "unet"},
                        {"precision", a->precision},
                        {"batch", b},
                        {"frames", f},
                        {"size", a->size},
                        {"latent", {h, w}},
                        {"threads", at::get_num_threads()},
                        {"load_s", load_s},
                        {"runs_s", runs},
                        {"median_s", sorted[sorted.size() / 2]},
                        {"peak_rss_bytes", peak_rss_bytes()},
                        {"version", version_report()}};
    std::cout << j.dump(a->json ? -1 : 2) << "\n";
    return 0;
  };
});

}  // namespace
}  // namespace i2v::cli
