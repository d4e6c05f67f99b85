// `i2v bench compare`: the error between two tensor files (e.g. `generate --dump` of an 8-bit and
// a bf16 model): relative RMS and max error per shared tensor, PSNR for decoded video, as JSON.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "cmd_bench_common.h"
#include "i2v/error.h"
#include "i2v/io/safetensors.h"

namespace i2v::cli {
namespace {

RegisterBench reg(90, [](CLI::App& bench, std::function<int()>& run) {
  auto* cmd = bench.add_subcommand(
      "compare", "Error of the tensors of one safetensors file against another (the reference)");
  auto a = std::make_shared<std::string>(), b = std::make_shared<std::string>();
  auto names = std::make_shared<std::vector<std::string>>();
  cmd->add_option("file", *a, "safetensors file to measure")->required();
  cmd->add_option("reference", *b, "safetensors file it is compared with")->required();
  cmd->add_option("--name", *names, "Only these tensors (repeatable; default: all shared ones)");
  run = [a, b, names] {
    auto fa = io::SafetensorsFile::open(*a), fb = io::SafetensorsFile::open(*b);
    nlohmann::json out = nlohmann::json::object();
    for (const auto& info : fa->tensors()) {
      if (!names->empty() && std::find(names->begin(), names->end(), info.name) == names->end())
        continue;
      if (!fb->contains(info.name)) continue;
      const at::Tensor x = fa->tensor(info.name, at::kDouble);
      const at::Tensor y = fb->tensor(info.name, at::kDouble);
      if (x.sizes() != y.sizes()) {
        out[info.name] = {{"error", "shapes differ"}};
        continue;
      }
      const double ref_norm = y.norm().item<double>();
      const double diff_norm = (x - y).norm().item<double>();
      nlohmann::json j = {{"relative_rms", ref_norm > 0 ? diff_norm / ref_norm : diff_norm},
                          {"max_abs", (x - y).abs().max().item<double>()},
                          {"reference_absmax", y.abs().max().item<double>()}};
      // Decoded video is in [-1, 1] (peak-to-peak 2); uint8 images in [0, 255].
      const double mse = (x - y).pow(2).mean().item<double>();
      const bool video = info.name == "decoded_video";
      const bool image8 = info.dtype == io::StDType::U8;
      if ((video || image8) && mse > 0) {
        const double peak = video ? 2.0 : 255.0;
        j["psnr_db"] = 10 * std::log10(peak * peak / mse);
      }
      out[info.name] = j;
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  };
  return cmd;
});

}  // namespace
}  // namespace i2v::cli
