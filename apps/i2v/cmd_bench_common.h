// Shared parts of the `i2v bench` subcommands (cmd_bench_<what>.cpp): options, the timing loop
// (warm-up, timed runs, median), and one extra forward under an OpCensus for FLOPs and the share
// of time per layer kind. Every bench prints one JSON object so numbers compare by script.
#pragma once

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace i2v::cli {

struct BenchOptions {
  std::string model, precision = "bf16", profile;
  int size = 256, frames = 8, runs = 3, warmup = 1;
  bool json = false, no_census = false;
};

// Each cmd_bench_<what>.cpp registers one `bench <what>` subcommand here (cmd_bench.cpp adds
// them all under "bench"): the factory adds it to `bench`, sets `run`, and returns it.
using BenchFactory = std::function<CLI::App*(CLI::App& bench, std::function<int()>& run)>;
struct RegisterBench {
  RegisterBench(int order, BenchFactory f);
};
std::vector<std::pair<int, BenchFactory>>& bench_registry();

void add_bench_options(CLI::App* cmd, BenchOptions& o);

// "fp32", "bf16" or "auto" (bf16 where the CPU has AVX512-BF16/AMX, else fp32).
at::ScalarType bench_dtype(const std::string& precision);
const char* dtype_name(at::ScalarType t);

// Runs `once` warmup + runs times (timed), then once under a census (FLOPs, layer shares) unless
// no_census, then once under libtorch's profiler if o.profile is set. Returns runs_s, median_s,
// tflops (census FLOPs / median), flops, census {...}. Progress lines go to stderr unless json.
nlohmann::json time_runs(const BenchOptions& o, const std::function<void()>& once);

// Prints `j` (compact with --json, indented otherwise).
void print_bench_json(const BenchOptions& o, const nlohmann::json& j);

}  // namespace i2v::cli
