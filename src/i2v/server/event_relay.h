// Events across processes: a worker's runner writes its events into the shared job store
// (StoreEventSink); the front's EventRelay reads them in order (woken by NOTIFY) and publishes
// them to its own subscribers, so a page follows a job whichever worker runs it. The relay
// also re-queues jobs whose worker's lease ran out and prunes events of long-finished jobs.
#pragma once

#include <atomic>
#include <thread>

#include "i2v/server/event_broadcaster.h"
#include "i2v/server/job_store.h"

namespace i2v::server {

class StoreEventSink : public EventSink {
 public:
  explicit StoreEventSink(JobStore& store) : store_(store) {}
  // Never throws: a lost event must not fail the job (it is logged).
  void publish(int64_t job, const std::string& type, nlohmann::json data) override;

 private:
  JobStore& store_;
};

// Re-queues the jobs whose worker stopped renewing its lease and tells `events` (interrupted,
// then queued). Called by every worker before it claims and by the front's relay.
void requeue_lost_jobs(JobStore& store, EventSink& events);

class EventRelay {
 public:
  EventRelay(JobStore& store, EventBroadcaster& out);
  ~EventRelay();
  void start();
  void stop();

 private:
  void loop();

  JobStore& store_;
  EventBroadcaster& out_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace i2v::server
