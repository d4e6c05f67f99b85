#include "cmd_bench_common.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <vector>

#include "cmd_bench_census.h"
#include "command_registry.h"
#include "i2v/api/option_parsing.h"
#include "i2v/core/runtime.h"
#include "i2v/error.h"
#include "i2v/kernels/cpu_features.h"

namespace i2v::cli {

std::vector<std::pair<int, BenchFactory>>& bench_registry() {
  static std::vector<std::pair<int, BenchFactory>> entries;
  return entries;
}

RegisterBench::RegisterBench(int order, BenchFactory f) {
  bench_registry().emplace_back(order, std::move(f));
}

void add_bench_options(CLI::App* cmd, BenchOptions& o) {
  cmd->add_option("--model", o.model, "Model folder or repo id (e.g. from make-model)")->required();
  cmd->add_option("--precision", o.precision, "fp32, bf16 or auto")->capture_default_str();
  cmd->add_option("--size", o.size, "Video width and height in pixels (latents are 1/8)")
      ->capture_default_str();
  cmd->add_option("--frames", o.frames, "Frames")->capture_default_str();
  cmd->add_option("--runs", o.runs, "Timed runs after the warm-up")->capture_default_str();
  cmd->add_option("--warmup", o.warmup, "Untimed runs first")->capture_default_str();
  cmd->add_flag("--json", o.json, "Print only the JSON object");
  cmd->add_flag("--no-census", o.no_census,
                "Skip the extra run that counts FLOPs and time per layer kind");
  cmd->add_option("--profile", o.profile,
                  "Also run once under libtorch's profiler and write its trace (JSON) here");
}

at::ScalarType bench_dtype(const std::string& p) {
  const at::ScalarType t = api::parse_precision(p, at::kCPU);
  if (t == at::kHalf) throw ConfigError("bench: --precision must be fp32, bf16 or auto");
  return t;
}

const char* dtype_name(at::ScalarType t) {
  return t == at::kBFloat16 ? "bf16" : "fp32";
}

nlohmann::json time_runs(const BenchOptions& o, const std::function<void()>& once) {
  if (o.size < 8 || o.size % 8 || o.frames < 1 || o.runs < 1 || o.warmup < 0) {
    throw ConfigError("bench: --size must be a positive multiple of 8; frames, runs >= 1");
  }
  using Clock = std::chrono::steady_clock;
  auto secs = [](Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  for (int i = 0; i < o.warmup; ++i) {
    auto t0 = Clock::now();
    once();
    if (!o.json) std::cerr << "warm-up " << i + 1 << ": " << secs(t0) << " s\n";
  }
  std::vector<double> runs;
  for (int i = 0; i < o.runs; ++i) {
    auto t0 = Clock::now();
    once();
    runs.push_back(secs(t0));
    if (!o.json) std::cerr << "run " << i + 1 << ": " << runs.back() << " s\n";
  }
  std::vector<double> sorted = runs;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  const double median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  nlohmann::json j = {{"runs_s", runs}, {"median_s", median}, {"min_s", sorted.front()}};
  if (!o.no_census) {
    OpCensus census;
    once();
    const CensusResult r = census.result();
    j["flops"] = r.flops;
    j["tflops"] = median > 0 ? r.flops / median / 1e12 : 0.0;
    j["census"] = r.to_json();
  }
  if (!o.profile.empty()) {
    torch::autograd::profiler::RecordProfile guard(o.profile);
    once();
  }
  j["threads"] = at::get_num_threads();
  j["peak_rss_bytes"] = peak_rss_bytes();
  j["version"] = version_report();
  j["cpu_fast_bf16"] = kernels::cpu_has_fast_bf16();
  return j;
}

void print_bench_json(const BenchOptions& o, const nlohmann::json& j) {
  std::cout << j.dump(o.json ? -1 : 2) << "\n";
}

}  // namespace i2v::cli
