// The i2v command line: `i2v <command> [options]`. Each command lives in its own cmd_*.cpp.
#include <algorithm>
#include <iostream>

#include <c10/util/Exception.h>
#include "command_registry.h"
#include "i2v/core/log.h"
#include "i2v/core/runtime.h"
#include "i2v/error.h"
#include "i2v/memory/memory_stats.h"

namespace i2v::cli {
std::vector<CommandEntry>& command_registry() {
  static std::vector<CommandEntry> entries;
  return entries;
}
}  // namespace i2v::cli

int main(int argc, char** argv) {
  using i2v::configure_threads;
  using i2v::set_log_level;
  using i2v::version_report;
  CLI::App app{
      "i2v: image + prompt -> short video with I2VGen-XL, built for scarce memory (CPU or GPU)."};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", [] { return version_report(); });
  std::string log_level = "info";
  int threads = 0;
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  app.add_option("--threads", threads, "CPU threads for tensor work (0 = all available cores)")
      ->capture_default_str();

  configure_threads();  // before --version, which reports the thread count
  // Every command counts its CPU memory and reuses freed large blocks (memory/block_reuse.h),
  // so benches run with the allocator the pipeline runs with.
  i2v::memory::install_counting_allocator();
  auto& registry = i2v::cli::command_registry();
  std::stable_sort(registry.begin(), registry.end(),
                   [](const auto& a, const auto& b) { return a.order < b.order; });
  std::vector<std::function<int()>> runners(registry.size());
  std::vector<CLI::App*> subs;
  for (size_t i = 0; i < registry.size(); ++i) {
    size_t before = app.get_subcommands({}).size();
    registry[i].factory(app, runners[i]);
    auto all = app.get_subcommands({});
    subs.push_back(all.size() > before ? all.back() : nullptr);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    set_log_level(log_level);
    configure_threads(threads);
    for (size_t i = 0; i < subs.size(); ++i) {
      if (subs[i] && subs[i]->parsed() && runners[i]) return runners[i]();
    }
    std::cout << app.help() << std::flush;
    return 0;
  } catch (const i2v::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "error (libtorch): " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory\n";
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
