// `i2v make-model`: random weights in the diffusers layout from a folder of configs.
#include <chrono>
#include <cstdio>
#include <iostream>

#include "command_registry.h"
#include "i2v/core/runtime.h"
#include "i2v/error.h"
#include "i2v/modelgen/make_model.h"
#include "i2v/modelgen/shape_only_allocation.h"

namespace i2v::cli {
namespace {

at::ScalarType parse_dtype(const std::string& s) {
  if (s == "f32" || s == "fp32") return at::kFloat;
  if (s == "f16" || s == "fp16") return at::kHalf;
  if (s == "bf16") return at::kBFloat16;
  throw ConfigError("--dtype must be f32, f16 or bf16 (got '" + s + "')");
}

RegisterCommand reg(50, [](CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand(
      "make-model",
      "Write a model with random weights in the diffusers layout from a folder of configs");
  struct Args {
    std::string config, out, dtype = "f32";
    uint64_t seed = 0;
    bool overwrite = false;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--config", args->config,
                  "Folder with model_index.json and one config folder per component")
      ->required();
  cmd->add_option("--out", args->out, "Folder to create")->required();
  cmd->add_option("--dtype", args->dtype, "Stored precision: f32, f16 or bf16")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed of the random weights")->capture_default_str();
  cmd->add_flag("--overwrite", args->overwrite, "Replace --out if it exists");
  run = [args] {
    modelgen::MakeModelOptions o;
    o.config_dir = args->config;
    o.out_dir = args->out;
    o.dtype = parse_dtype(args->dtype);
    o.seed = args->seed;
    o.overwrite = args->overwrite;
    auto t0 = std::chrono::steady_clock::now();
    auto reports = modelgen::make_model(o);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int64_t total = 0;
    std::printf("%-16s %-32s %8s %16s %12s %8s\n", "component", "class", "tensors", "parameters",
                "MiB", "s");
    for (const auto& r : reports) {
      std::printf("%-16s %-32s %8lld %16lld %12.1f %8.1f\n", r.name.c_str(), r.class_name.c_str(),
                  static_cast<long long>(r.tensors), static_cast<long long>(r.parameters),
                  r.bytes / 1048576.0, r.seconds);
      total += r.parameters;
    }
    // Shape-only construction maps one shared buffer many times; RSS counts every mapping, so
    // the physical memory is reported separately.
    std::printf(
        "wrote %s: %lld parameters in %.1f s; shape-only buffer %.0f MiB, peak RSS %.0f MiB "
        "(RSS counts each alias of that buffer)\n",
        args->out.c_str(), static_cast<long long>(total), secs,
        modelgen::ShapeOnlyAllocation::backing_bytes() / 1048576.0, peak_rss_bytes() / 1048576.0);
    return 0;
  };
});

}  // namespace
}  // namespace i2v::cli
