// `i2v info`: what this build and machine offer (versions, threads, CUDA).
#include <iostream>

#include <ATen/Parallel.h>

#include "command_registry.h"
#include "i2v/core/runtime.h"

namespace i2v::cli {
namespace {
RegisterCommand reg(90, [](CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand("info", "Print versions, threads and device availability");
  (void)cmd;
  run = [] {
    std::cout << version_report() << "\n" << at::get_parallel_info();
    return 0;
  };
});
}  // namespace
}  // namespace i2v::cli
