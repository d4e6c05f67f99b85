// `i2v worker`: runs jobs of a shared queue (`--jobs postgresql://...`), without HTTP. Start one
// per machine (or per GPU) beside one `i2v serve --jobs ...` front; they claim the jobs that fit
// their model and memory, report progress through the database, write outputs into the shared
// --outputs folder, and hand a running job back to the queue when stopped (Ctrl-C, SIGTERM).
#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <thread>

#include <spdlog/spdlog.h>

#include "command_registry.h"
#include "default_model.h"
#include "i2v/api/option_parsing.h"
#include "i2v/error.h"
#include "i2v/server/event_relay.h"
#include "i2v/server/job_runner.h"
#include "i2v/server/worker_info.h"

namespace i2v::cli {
namespace {

struct WorkerArgs {
  std::string jobs, model, model_name, outputs = "outputs", precision = "auto", lora_dir;
  double lease_seconds = 30;
  int max_jobs = 0, preview_every = 0;
  int64_t memory_budget_mb = 0;
  bool release_packed = false;
};

std::atomic<bool> g_stop{false};
void on_signal(int) {
  g_stop = true;
}

RegisterCommand reg(21, [](CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand(
      "worker", "Run jobs of a shared queue (with `i2v serve --jobs` as the front); no HTTP");
  auto a = std::make_shared<WorkerArgs>();
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_option("--jobs", a->jobs, "The queue: postgresql://user@host:port/db")->required();
  cmd->add_option("--model", a->model,
                  "Model folder or cached repo id (default: the built-in tiny random model)");
  cmd->add_option("--model-name", a->model_name,
                  "Name jobs ask for (default: the model folder's name; must match the front's)");
  cmd->add_option("--outputs", a->outputs, "The outputs folder shared with the front")
      ->capture_default_str();
  cmd->add_option("--precision", a->precision, "auto, fp32 or bf16")->capture_default_str();
  cmd->add_flag("--release-packed-weights", a->release_packed,
                "Free the packed UNet and VAE weights after each job instead of keeping them");
  cmd->add_option("--lora-dir", a->lora_dir, "Folder of the LoRA files jobs name");
  cmd->add_option("--lease-seconds", a->lease_seconds,
                  "Lease on a running job, renewed every third of it")
      ->capture_default_str();
  cmd->add_option("--memory-budget-mb", a->memory_budget_mb,
                  "Claim only jobs whose cheapest plan fits this (default: detected)");
  cmd->add_option("--max-jobs", a->max_jobs, "Exit after this many jobs (0: never)")
      ->capture_default_str();
  cmd->add_option("--preview-every", a->preview_every,
                  "Steps between preview frames (0: about 25 per job)")
      ->capture_default_str();
  run = [a] {
    if (a->jobs.rfind("postgresql://", 0) != 0 && a->jobs.rfind("postgres://", 0) != 0)
      throw ConfigError(
          "--jobs must be a postgresql:// URL (a SQLite queue has one worker: "
          "`i2v serve` itself)");
    if (!(a->lease_seconds >= 1 && a->lease_seconds <= 3600))
      throw ConfigError("--lease-seconds must be between 1 and 3600");
    if (a->max_jobs < 0) throw ConfigError("--max-jobs must be 0 or more");
    api::parse_precision(a->precision, at::kCPU);
    auto store = server::open_job_store(a->jobs, {});
    const std::string model = a->model.empty() ? ensure_default_model() : a->model;
    ModelOptions m;
    m.model = model;
    m.precision = a->precision;
    m.keep_packed_weights = !a->release_packed;
    spdlog::info("loading {}", model);
    server::LibraryGenerator generator(m);

    server::RunnerOptions ro;
    ro.outputs_dir = a->outputs;
    ro.preview_every = a->preview_every;
    ro.lora_dir = a->lora_dir;
    ro.worker = server::local_worker_info(generator, a->model_name);
    if (a->memory_budget_mb > 0) ro.worker.memory_budget_bytes = a->memory_budget_mb << 20;
    ro.lease_seconds = a->lease_seconds;
    ro.max_jobs = a->max_jobs;
    server::StoreEventSink events(*store);
    server::JobRunner runner(*store, events, generator, ro);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::cout << "i2v worker " << ro.worker.id << ": model " << ro.worker.model << ", "
              << ro.worker.device << ", budget " << (ro.worker.memory_budget_bytes >> 20)
              << " MiB, jobs from " << store->describe() << std::endl;
    runner.start();
    while (!g_stop && !runner.done()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (g_stop) spdlog::info("stopping (a running job goes back to the queue)");
    runner.stop();
    return 0;
  };
});

}  // namespace
}  // namespace i2v::cli
