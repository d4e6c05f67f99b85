// Where jobs live: their parameters, state, results, the queue's leases, the workers that run
// them and the events those workers report. Two engines sit behind this one interface and pass
// one test suite (tests/server/job_store_test.cpp):
//  - SQLite (sqlite_job_store.h): one file beside the outputs, the embedded default of a single
//    machine (`i2v serve` with its own worker);
//  - PostgreSQL (postgres_job_store.h): one queue for a front and many `i2v worker` processes on
//    many machines (`--jobs postgresql://...`).
//
// The queue: a worker claims the oldest queued job it can run (its model, its memory budget)
// and holds it under a lease that it renews; when the lease expires (the worker died) the job
// is queued again and claimed by another. Only the worker that holds a job can finish, fail or
// requeue it, so a finished result is written exactly once and never overwritten. Every claim
// is kept as an attempt (who, when, how it ended) for audits.
//
// Implementations are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "i2v/server/job.h"

namespace i2v::server {

// What a worker is and can run; it claims only jobs that fit.
struct WorkerInfo {
  std::string id;                   // unique per process (host, pid, a random part)
  std::string host;                 // for people: where it runs
  std::string model;                // the model it has loaded (jobs for another model are not its)
  std::string device;               // cpu, cuda:0, ...
  int64_t memory_budget_bytes = 0;  // what its planner fits into; 0 = no limit
};

// What a job needs, decided when it is submitted.
struct JobNeeds {
  std::string model;         // "" = any worker
  int64_t memory_bytes = 0;  // the cheapest plan's predicted peak; 0 = unknown
};

// A worker's hold on a job, as its renewal finds it.
enum class Lease {
  Held,       // still its job, lease extended
  Cancelled,  // the user cancelled it: stop, record nothing
  Lost,       // it expired and the job is someone else's (or queued again): stop, record nothing
};

struct Attempt {
  int64_t job = 0;
  int number = 0;  // 1, 2, ...
  std::string worker;
  double claimed_at = 0, ended_at = 0;  // ended_at 0 while it runs
  std::string outcome;  // "" running, finished, failed, cancelled, requeued, expired
};

struct WorkerRecord {
  WorkerInfo info;
  double last_seen = 0;
  int64_t job = 0;  // the job it runs, 0 = idle
};

struct StoredEvent {
  int64_t id = 0;  // increasing
  int64_t job = 0;
  std::string type;
  nlohmann::json data;
};

class JobStore {
 public:
  virtual ~JobStore() = default;

  // "sqlite:<file>" or "postgresql://user@host:port/db" (never a password).
  virtual std::string describe() const = 0;
  // True when other processes (workers elsewhere) share the queue.
  virtual bool shared() const = 0;
  // The schema version this store migrated to (kJobStoreSchemaVersion).
  virtual int schema_version() = 0;

  // --- jobs
  virtual Job create(const JobParams& params, const std::string& image_bytes,
                     const std::string& image_name, const std::string& image_format,
                     const JobNeeds& needs = {}) = 0;
  virtual std::optional<Job> get(int64_t id) = 0;
  // Newest first; `status` filters when given.
  virtual std::vector<Job> list(int limit, std::optional<JobStatus> status = std::nullopt) = 0;
  virtual std::string image(int64_t id) = 0;  // the uploaded bytes ("" if none)
  virtual int count(JobStatus status) = 0;
  virtual bool remove(int64_t id) = 0;

  // --- the queue
  // The oldest queued job that fits `worker`, now running under its lease; nullopt when none.
  virtual std::optional<Job> claim(const WorkerInfo& worker, double lease_seconds) = 0;
  virtual Lease renew(int64_t id, const std::string& worker, double lease_seconds) = 0;
  // Running jobs whose lease ran out: queued again (interrupted + 1). Returns them.
  virtual std::vector<int64_t> requeue_expired() = 0;
  // Every running job queued again: only for a store no other process shares, at start.
  virtual std::vector<int64_t> requeue_all_running() = 0;
  virtual void set_progress(int64_t id, const std::string& worker, int step) = 0;
  // These three act only while `worker` holds the job; false otherwise (nothing written).
  virtual bool mark_finished(int64_t id, const std::string& worker,
                             const nlohmann::json& result) = 0;
  virtual bool mark_failed(int64_t id, const std::string& worker, const std::string& error,
                           const nlohmann::json& result = {}) = 0;
  virtual bool requeue(int64_t id, const std::string& worker) = 0;  // a graceful stop
  // Queued or running -> cancelled; false if the job was already terminal (or absent).
  virtual bool mark_cancelled(int64_t id) = 0;
  virtual std::vector<Attempt> attempts(int64_t job) = 0;

  // --- workers
  virtual void heartbeat(const WorkerInfo& worker, int64_t job) = 0;
  virtual void remove_worker(const std::string& id) = 0;
  virtual std::vector<WorkerRecord> workers(double seen_within_seconds) = 0;

  // --- events (workers -> the front)
  virtual int64_t append_event(int64_t job, const std::string& type,
                               const nlohmann::json& data) = 0;
  virtual std::vector<StoredEvent> events_after(int64_t after, int limit) = 0;
  // Returns when an event or a job may have arrived, or after `timeout`.
  virtual void wait_for_news(std::chrono::milliseconds timeout) = 0;
  // Deletes the events of jobs that ended more than `age_seconds` ago. Returns how many.
  virtual int prune_events(double age_seconds) = 0;
};

constexpr int kJobStoreSchemaVersion = 2;

// `spec`: a postgresql:// (or postgres://) URL, or an SQLite file path ("" = default_sqlite).
// IoError naming the database when it cannot be opened or migrated.
std::unique_ptr<JobStore> open_job_store(const std::string& spec,
                                         const std::filesystem::path& default_sqlite);

// A unique id for this process's worker: host:pid:random.
std::string new_worker_id();
std::string host_name();

}  // namespace i2v::server
