// `i2v bench <what>`: the benchmark commands, one file each (cmd_bench_<what>.cpp), gathered here.
#include <algorithm>
#include <memory>

#include "cmd_bench_common.h"
#include "command_registry.h"

namespace i2v::cli {
namespace {

RegisterCommand reg(60, [](CLI::App& app, std::function<int()>& run) {
  auto* bench = app.add_subcommand(
      "bench", "Benchmarks on the real architecture; each prints one JSON object");
  bench->require_subcommand(1);
  auto entries = bench_registry();
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  auto subs = std::make_shared<std::vector<std::pair<CLI::App*, std::function<int()>>>>();
  for (auto& [order, factory] : entries) {
    std::function<int()> sub_run;
    CLI::App* sub = factory(*bench, sub_run);
    subs->emplace_back(sub, sub_run);
  }
  run = [subs] {
    for (auto& [sub, sub_run] : *subs) {
      if (sub->parsed()) return sub_run();
    }
    return 1;
  };
});

}  // namespace
}  // namespace i2v::cli
