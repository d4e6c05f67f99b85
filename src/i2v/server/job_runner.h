// The worker: one thread that runs queued jobs one at a time on the device, in order, and
// reports each step to the event broadcaster. A failure of any kind (bad image, out of memory,
// libtorch error, disk full) fails that job and the worker goes on with the next.
#pragma once

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "i2v/server/event_broadcaster.h"
#include "i2v/server/job_store.h"
#include "i2v/server/video_generator.h"

namespace i2v::server {

struct RunnerOptions {
  std::filesystem::path outputs_dir;
  int preview_every = 0;           // steps between previews; 0 = about 25 previews per job
  std::filesystem::path lora_dir;  // where the jobs' LoRA names are
};

// Live numbers of the running job (also sent as events).
struct RunningProgress {
  int64_t job = 0;
  int step = 0, total = 0;
  double seconds_per_step = 0, eta_seconds = 0;
};

class JobRunner {
 public:
  JobRunner(JobStore& store, EventBroadcaster& events, VideoGenerator& generator,
            RunnerOptions options);
  ~JobRunner();

  void start();
  // Stops after the current step: a running job goes back to the queue (interrupted) so the
  // next start runs it again.
  void stop();
  void notify();  // a job was queued
  // Asks the running job `id` to stop at the next step; false if it is not the running one.
  bool cancel_running(int64_t id);
  std::optional<RunningProgress> progress() const;

 private:
  void loop();
  void run_job(const Job& job);

  JobStore& store_;
  EventBroadcaster& events_;
  VideoGenerator& generator_;
  RunnerOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool wake_ = false;
  std::atomic<int64_t> cancel_id_{0};
  std::optional<RunningProgress> progress_;
  std::thread thread_;
};

}  // namespace i2v::server
