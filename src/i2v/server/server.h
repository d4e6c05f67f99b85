// `i2v serve`: the HTTP server that owns the job store, the event broadcaster and the worker,
// serves the embedded web page, the JSON API (http_api.h) and the finished videos.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "i2v/server/job_submission.h"
#include "i2v/server/video_generator.h"

namespace httplib {
class Server;
}

namespace i2v::server {

class JobStore;
class EventBroadcaster;
class EventSink;
class EventRelay;
class JobRunner;
struct ApiContext;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 7860;  // 0 = any free port (see Server::port())
  std::filesystem::path outputs_dir = "outputs";
  std::filesystem::path db_path;  // default: <outputs>/i2v-jobs.sqlite
  // The job store: "" = SQLite at db_path; postgresql://... = a queue shared with `i2v worker`s.
  std::string jobs;
  bool local_worker = true;  // run jobs in this process too (off: a front for remote workers)
  double lease_seconds = 30;
  // What jobs submitted here need (workers of another model skip them); default: the model
  // folder's name.
  std::string model_name;
  std::string token;  // required when host is not loopback
  SubmissionLimits limits;
  int max_queued = 100;   // queued jobs beyond this are refused with 429
  int preview_every = 0;  // steps between preview frames (0: ~25 per job)
  int http_threads = 32;  // each open event stream holds one
  // LoRA files offered to jobs (*.safetensors directly inside); empty = none.
  std::filesystem::path lora_dir;
};

class Server {
 public:
  // Opens the store, re-queues jobs a dead process left running. ConfigError for a non-loopback
  // host without a token, IoError when the outputs folder or database cannot be made.
  Server(ServerOptions options, std::shared_ptr<VideoGenerator> generator);
  ~Server();

  // Binds the socket; returns the port. IoError when the address is taken or not allowed.
  int bind();
  // Starts the worker and serves until stop(). bind() first.
  void run();
  void stop();  // from any thread
  int port() const { return port_; }
  std::string url() const;
  JobStore& store();

 private:
  ServerOptions options_;
  std::shared_ptr<VideoGenerator> generator_;
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<EventBroadcaster> events_;
  std::unique_ptr<EventSink> store_sink_;  // shared store: the local worker reports through it
  std::unique_ptr<EventRelay> relay_;      // shared store: events of every worker to the page
  std::unique_ptr<JobRunner> runner_;      // null without a local worker
  std::unique_ptr<ApiContext> context_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
};

}  // namespace i2v::server
