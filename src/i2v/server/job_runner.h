// The worker: one thread that claims queued jobs from the store (those that fit this worker),
// runs them one at a time on the device and reports each step to an event sink. A second thread
// renews the running job's lease and the worker's heartbeat; a lease found cancelled or lost
// stops the job at its next step. A failure of any kind (bad image, out of memory, libtorch
// error, disk full) fails that job and the worker goes on with the next.
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
  WorkerInfo worker;               // who claims (id, model, device, memory budget)
  double lease_seconds = 30;       // renewed every third of it; a dead worker's job waits this
  int max_jobs = 0;                // stop after this many jobs (0 = never): for tests, batch use
};

// Live numbers of the running job (also sent as events).
struct RunningProgress {
  int64_t job = 0;
  int step = 0, total = 0;
  double seconds_per_step = 0, eta_seconds = 0;
};

class JobRunner {
 public:
  JobRunner(JobStore& store, EventSink& events, VideoGenerator& generator, RunnerOptions options);
  ~JobRunner();

  void start();
  // Stops after the current step: a running job goes back to the queue (interrupted) so the
  // next start runs it again.
  void stop();
  void notify();  // a job was queued
  // Asks the running job `id` to stop at the next step; false if it is not the running one.
  bool cancel_running(int64_t id);
  std::optional<RunningProgress> progress() const;
  // True once max_jobs jobs ran (the loop has ended).
  bool done() const;
  const WorkerInfo& worker() const { return options_.worker; }

 private:
  void loop();
  void lease_loop();
  void run_job(const Job& job, double claim_seconds);

  JobStore& store_;
  EventSink& events_;
  VideoGenerator& generator_;
  RunnerOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool wake_ = false;
  std::atomic<int64_t> cancel_id_{0};  // cancelled by the user (here or through the store)
  std::atomic<int64_t> lost_id_{0};    // its lease was lost: someone else may run it now
  std::atomic<int64_t> current_{0};    // the job whose lease is renewed
  std::atomic<bool> done_{false};
  std::thread lease_thread_;
  std::optional<RunningProgress> progress_;
  std::thread thread_;
};

}  // namespace i2v::server
