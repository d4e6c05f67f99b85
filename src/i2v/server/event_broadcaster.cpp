#include "i2v/server/event_broadcaster.h"

#include <algorithm>

namespace i2v::server {

std::string format_sse(const JobEvent& e) {
  // json::dump() escapes newlines, so the data is always one line.
  return "event: " + e.type + "\nid: " + std::to_string(e.seq) + "\ndata: " + e.data.dump() +
         "\n\n";
}

EventBroadcaster::EventBroadcaster(size_t history_per_job)
    : next_seq_(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count())),
      history_limit_(history_per_job) {}

void EventBroadcaster::publish(int64_t job, const std::string& type, nlohmann::json data) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& h = history_[job];
    if (type == "preview") {
      h.erase(
          std::remove_if(h.begin(), h.end(), [](const JobEvent& e) { return e.type == "preview"; }),
          h.end());
    }
    h.push_back({next_seq_++, type, std::move(data)});
    while (h.size() > history_limit_) h.pop_front();
  }
  cv_.notify_all();
}

std::vector<JobEvent> EventBroadcaster::wait(int64_t job, uint64_t after,
                                             std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  auto pending = [&] {
    std::vector<JobEvent> out;
    auto it = history_.find(job);
    if (it == history_.end()) return out;
    for (const auto& e : it->second) {
      if (e.seq > after) out.push_back(e);
    }
    return out;
  };
  std::vector<JobEvent> out = pending();
  if (!out.empty() || closed_) return out;
  cv_.wait_for(lock, timeout, [&] {
    out = pending();
    return closed_ || !out.empty();
  });
  return out;
}

void EventBroadcaster::forget(int64_t job) {
  std::lock_guard<std::mutex> lock(mu_);
  history_.erase(job);
}

void EventBroadcaster::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool EventBroadcaster::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

}  // namespace i2v::server
