// `i2v serve`: the web page and HTTP API over one loaded model.
#include <atomic>
#include <chrono>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <thread>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "command_registry.h"
#include "default_model.h"
#include "i2v/api/option_parsing.h"
#include "i2v/error.h"
#include "i2v/server/auth.h"
#include "i2v/server/server.h"

namespace i2v::cli {
namespace {
namespace fs = std::filesystem;

struct ServeArgs {
  std::string host = "127.0.0.1", model, outputs = "outputs", logs = "logs", db, token, token_file,
              precision = "auto", lora_dir, jobs, model_name;
  int port = 7860, max_upload_mb = 20, max_queued = 100, preview_every = 0;
  bool no_local_worker = false, release_packed = false;
  double lease_seconds = 30;
};

// The signal handler only raises a flag (async-signal-safe); a watcher thread stops the server.
std::atomic<bool> g_stop_requested{false};
void on_signal(int) {
  g_stop_requested = true;
}

// Logs go to the console and to logs/serve_YYYYMMDD.log.
void add_file_log(const fs::path& dir) {
  fs::create_directories(dir);
  char stamp[16];
  std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y%m%d", std::localtime(&now));
  auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(
      (dir / ("serve_" + std::string(stamp) + ".log")).string(), /*truncate=*/false);
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("i2v", spdlog::sinks_init_list{console, file});
  logger->set_level(spdlog::get_level());
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");
}

RegisterCommand reg(20, [](CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand("serve",
                                 "Serve the web page and HTTP API (jobs, progress, "
                                 "history) over one loaded model");
  auto a = std::make_shared<ServeArgs>();
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_option("--host", a->host,
                  "Address to bind (beyond loopback needs --token or --token-file)")
      ->capture_default_str();
  cmd->add_option("--port", a->port, "Port (0: any free port)")->capture_default_str();
  cmd->add_option("--model", a->model,
                  "Model folder or cached repo id (default: the built-in tiny random model)");
  cmd->add_option("--outputs", a->outputs,
                  "Folder for videos, metadata, thumbnails and the job "
                  "database")
      ->capture_default_str();
  cmd->add_option("--logs", a->logs, "Folder for log files")->capture_default_str();
  cmd->add_option("--db", a->db, "Job database (default: <outputs>/i2v-jobs.sqlite)");
  cmd->add_option("--jobs", a->jobs,
                  "Job queue shared with `i2v worker`s: postgresql://user@host:port/db "
                  "(default: the SQLite --db, this machine only)");
  cmd->add_flag("--no-local-worker", a->no_local_worker,
                "Run no jobs here: a front (API, page) for workers elsewhere (needs --jobs)");
  cmd->add_option("--lease-seconds", a->lease_seconds,
                  "How long a silent worker keeps a job before another takes it over")
      ->capture_default_str();
  cmd->add_option("--model-name", a->model_name,
                  "Name of the model that jobs submitted here need (default: the model "
                  "folder's name)");
  cmd->add_option("--token", a->token, "Token every API call must carry (Bearer or ?token=)");
  cmd->add_option("--token-file", a->token_file, "Read the token from this file's first line");
  cmd->add_option("--precision", a->precision,
                  "auto (bf16 where the CPU has fast bf16), fp32 or bf16")
      ->capture_default_str();
  cmd->add_flag(
      "--release-packed-weights", a->release_packed,
      "Free the packed UNet and VAE weights after each job (bf16 on CPU) instead of keeping "
      "them for the next: less memory between jobs, each job packs again");
  cmd->add_option("--max-upload-mb", a->max_upload_mb, "Largest accepted image, in MiB")
      ->capture_default_str();
  cmd->add_option("--max-queued", a->max_queued, "Most jobs waiting at once")
      ->capture_default_str();
  cmd->add_option("--lora-dir", a->lora_dir,
                  "Folder of LoRA files (*.safetensors) the page and API offer per job");
  cmd->add_option("--preview-every", a->preview_every,
                  "Steps between preview frames (0: about 25 per job)")
      ->capture_default_str();
  run = [a] {
    if (!a->token_file.empty()) a->token = server::read_token_file(a->token_file);
    if (a->port < 0 || a->port > 65535) throw ConfigError("--port must be between 0 and 65535");
    if (a->max_upload_mb < 1 || a->max_upload_mb > 200) {
      throw ConfigError("--max-upload-mb must be between 1 and 200");
    }
    api::parse_precision(a->precision, at::kCPU);  // a bad value fails before the model loads
    if (!server::is_loopback_host(a->host) && a->token.empty()) {
      throw ConfigError("serving on " + a->host +
                        " (beyond this machine) needs --token or --token-file; without one, "
                        "bind to 127.0.0.1");
    }
    if (a->no_local_worker && a->jobs.empty())
      throw ConfigError("--no-local-worker needs --jobs postgresql://... (someone must run jobs)");
    if (!(a->lease_seconds >= 1 && a->lease_seconds <= 3600))
      throw ConfigError("--lease-seconds must be between 1 and 3600");
    add_file_log(a->logs);
    server::ServerOptions o;
    o.jobs = a->jobs;
    o.local_worker = !a->no_local_worker;
    o.lease_seconds = a->lease_seconds;
    o.model_name = a->model_name;
    o.host = a->host;
    o.port = a->port;
    o.outputs_dir = a->outputs;
    o.db_path = a->db;
    o.token = a->token;
    o.limits.max_image_bytes = static_cast<size_t>(a->max_upload_mb) << 20;
    o.max_queued = a->max_queued;
    o.preview_every = a->preview_every;
    if (!a->lora_dir.empty()) {
      std::error_code ec;
      if (!std::filesystem::is_directory(a->lora_dir, ec))
        throw ConfigError("--lora-dir " + a->lora_dir + " is not a folder");
      o.lora_dir = a->lora_dir;
    }

    const std::string model = a->model.empty() ? ensure_default_model() : a->model;
    ModelOptions m;
    m.model = model;
    m.precision = a->precision;
    m.keep_packed_weights = !a->release_packed;
    spdlog::info("loading {}", model);
    auto generator = std::make_shared<server::LibraryGenerator>(m);
    server::Server srv(o, generator);
    srv.bind();
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::atomic<bool> done{false};
    std::thread watcher([&] {
      while (!done && !g_stop_requested)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (g_stop_requested) {
        spdlog::info("stopping (a running job goes back to the queue)");
        srv.stop();
      }
    });
    std::cout << "i2v serve: listening on " << srv.url()
              << (o.token.empty() ? "" : " (token required)") << std::endl;
    spdlog::info("serving {} on {} (outputs in {}, logs in {})", model, srv.url(),
                 fs::absolute(o.outputs_dir).string(), fs::absolute(a->logs).string());
    srv.run();
    done = true;
    watcher.join();
    srv.stop();
    spdlog::info("stopped");
    return 0;
  };
});

}  // namespace
}  // namespace i2v::cli
