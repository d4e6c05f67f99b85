// `i2v quantize`: a copy of a model whose UNet (and optionally encoders) holds 8-bit weights.
#include <chrono>
#include <cstdio>
#include <sstream>

#include "command_registry.h"
#include "i2v/core/runtime.h"
#include "i2v/error.h"
#include "i2v/modelgen/quantize_model.h"

namespace i2v::cli {
namespace {

std::vector<std::string> split_components(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

RegisterCommand reg(55, [](CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand(
      "quantize",
      "Write a copy of a model whose UNet (and optionally CLIP encoders) stores 8-bit weights "
      "with per-channel scales (approximate; bf16 compute)");
  struct Args {
    std::string model, out, to = "int8", components = "unet", variant = "auto";
    bool overwrite = false;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--model", args->model, "Model folder or cached repo id")->required();
  cmd->add_option("--to", args->to, "8-bit format: int8, fp8-e4m3 or fp8-e5m2")
      ->capture_default_str();
  cmd->add_option("--out", args->out, "Folder to create")->required();
  cmd->add_option("--components", args->components,
                  "Comma-separated components to quantize: unet, text_encoder, image_encoder")
      ->capture_default_str();
  cmd->add_option("--variant", args->variant,
                  "Source weight files to read: auto (full precision when present), none, fp16, "
                  "bf16")
      ->capture_default_str();
  cmd->add_flag("--overwrite", args->overwrite, "Replace --out if it exists");
  run = [args] {
    modelgen::QuantizeOptions o;
    o.model = args->model;
    o.out_dir = args->out;
    o.format = quant::parse_weight_format(args->to);
    o.components = split_components(args->components);
    o.variant = weights::parse_variant_mode(args->variant);
    o.overwrite = args->overwrite;
    const auto t0 = std::chrono::steady_clock::now();
    const auto reports = modelgen::quantize_model(o);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%-14s %10s %8s %16s %12s %12s %8s\n", "component", "quantized", "kept",
                "8-bit params", "MiB before", "MiB after", "s");
    for (const auto& r : reports) {
      std::printf("%-14s %10lld %8lld %16lld %12.1f %12.1f %8.1f\n", r.component.c_str(),
                  static_cast<long long>(r.quantized), static_cast<long long>(r.kept),
                  static_cast<long long>(r.quantized_parameters), r.bytes_before / 1048576.0,
                  r.bytes_after / 1048576.0, r.seconds);
    }
    std::printf("wrote %s (%s) in %.1f s, peak RSS %.0f MiB\n", args->out.c_str(),
                quant::to_string(o.format).c_str(), secs, peak_rss_bytes() / 1048576.0);
    return 0;
  };
});

}  // namespace
}  // namespace i2v::cli
