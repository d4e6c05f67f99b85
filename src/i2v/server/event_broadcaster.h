// Per-job event streams for server-sent events. Each job keeps a short history (every event
// except previews, of which only the newest is kept), so a client that connects late replays
// what happened and then follows live events. Waiting is by sequence number: a subscriber asks
// for the events after the last one it saw.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace i2v::server {

struct JobEvent {
  uint64_t seq = 0;  // increasing across all jobs, and across restarts of the server
  std::string type;  // queued, started, step, preview, finished, failed, cancelled, interrupted
  nlohmann::json data;
};

// "event: <type>\nid: <seq>\ndata: <json>\n\n"
std::string format_sse(const JobEvent& e);

// Where a job runner reports: straight to this process's subscribers (EventBroadcaster), or into
// the shared job store for the front to relay (StoreEventSink, event_relay.h).
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void publish(int64_t job, const std::string& type, nlohmann::json data) = 0;
};

class EventBroadcaster : public EventSink {
 public:
  explicit EventBroadcaster(size_t history_per_job = 400);

  void publish(int64_t job, const std::string& type, nlohmann::json data) override;
  // The job's events with seq > after; waits up to `timeout` when there are none yet. Returns
  // early (empty) once close() was called.
  std::vector<JobEvent> wait(int64_t job, uint64_t after, std::chrono::milliseconds timeout);
  void forget(int64_t job);
  void close();  // wakes every waiter for good (server shutdown)
  bool closed() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, std::deque<JobEvent>> history_;
  uint64_t next_seq_;  // starts at the clock's microseconds: a browser reconnecting with the
                       // Last-Event-ID of an earlier server process misses nothing
  size_t history_limit_;
  bool closed_ = false;
};

}  // namespace i2v::server
