#include "i2v/server/event_relay.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace i2v::server {

void StoreEventSink::publish(int64_t job, const std::string& type, nlohmann::json data) {
  try {
    store_.append_event(job, type, data);
  } catch (const std::exception& e) {
    spdlog::warn("job {}: cannot record the {} event: {}", job, type, e.what());
  }
}

void requeue_lost_jobs(JobStore& store, EventSink& events) {
  for (int64_t id : store.requeue_expired()) {
    spdlog::warn("job {}: its worker stopped renewing the lease; queued again", id);
    events.publish(id, "interrupted", {{"job", id}, {"reason", "the worker was lost"}});
    events.publish(id, "queued", {{"job", id}, {"recovered", true}});
  }
}

EventRelay::EventRelay(JobStore& store, EventBroadcaster& out) : store_(store), out_(out) {}

EventRelay::~EventRelay() {
  stop();
}

void EventRelay::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void EventRelay::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void EventRelay::loop() {
  using clock = std::chrono::steady_clock;
  int64_t cursor = 0;  // replays what the store still holds: a restarted front misses nothing
  auto last_sweep = clock::now() - std::chrono::hours(1);
  while (!stopping_) {
    try {
      if (clock::now() - last_sweep > std::chrono::seconds(5)) {
        last_sweep = clock::now();
        requeue_lost_jobs(store_, out_);
        store_.prune_events(600);
      }
      for (;;) {
        auto events = store_.events_after(cursor, 500);
        for (auto& e : events) {
          cursor = e.id;
          out_.publish(e.job, e.type, std::move(e.data));
        }
        if (events.size() < 500) break;
      }
      store_.wait_for_news(std::chrono::milliseconds(250));
    } catch (const std::exception& e) {
      spdlog::error("event relay: {}", e.what());
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
}

}  // namespace i2v::server
