// The job store in one SQLite file (WAL): the embedded default of a single machine. The
// history survives restarts; the schema is versioned and migrated on open (a database of an
// older i2v keeps its jobs).
#pragma once

#include <filesystem>
#include <mutex>

#include "i2v/server/job_store.h"

struct sqlite3;

namespace i2v::server {

class SqliteJobStore : public JobStore {
 public:
  // Opens (or creates) and migrates the database; IoError naming the file when that fails.
  explicit SqliteJobStore(const std::filesystem::path& db_path);
  ~SqliteJobStore() override;
  SqliteJobStore(const SqliteJobStore&) = delete;
  SqliteJobStore& operator=(const SqliteJobStore&) = delete;

  std::string describe() const override { return "sqlite:" + path_.string(); }
  bool shared() const override { return false; }
  int schema_version() override;

  Job create(const JobParams& params, const std::string& image_bytes, const std::string& image_name,
             const std::string& image_format, const JobNeeds& needs) override;
  std::optional<Job> get(int64_t id) override;
  std::vector<Job> list(int limit, std::optional<JobStatus> status) override;
  std::string image(int64_t id) override;
  int count(JobStatus status) override;
  bool remove(int64_t id) override;

  std::optional<Job> claim(const WorkerInfo& worker, double lease_seconds) override;
  Lease renew(int64_t id, const std::string& worker, double lease_seconds) override;
  std::vector<int64_t> requeue_expired() override;
  std::vector<int64_t> requeue_all_running() override;
  void set_progress(int64_t id, const std::string& worker, int step) override;
  bool mark_finished(int64_t id, const std::string& worker, const nlohmann::json& result) override;
  bool mark_failed(int64_t id, const std::string& worker, const std::string& error,
                   const nlohmann::json& result) override;
  bool requeue(int64_t id, const std::string& worker) override;
  bool mark_cancelled(int64_t id) override;
  std::vector<Attempt> attempts(int64_t job) override;

  void heartbeat(const WorkerInfo& worker, int64_t job) override;
  void remove_worker(const std::string& id) override;
  std::vector<WorkerRecord> workers(double seen_within_seconds) override;

  int64_t append_event(int64_t job, const std::string& type, const nlohmann::json& data) override;
  std::vector<StoredEvent> events_after(int64_t after, int limit) override;
  void wait_for_news(std::chrono::milliseconds timeout) override;
  int prune_events(double age_seconds) override;

 private:
  void exec(const std::string& sql);
  // BEGIN IMMEDIATE; body(); COMMIT, rolled back when body throws. Returns body's value.
  template <class F>
  auto transaction(F body);
  void migrate();
  std::vector<Job> query_jobs(const std::string& where, int64_t arg, bool bind_arg);
  // Ends the current attempt of `id` with `outcome` (under the lock, in a transaction).
  void end_attempt(int64_t id, const std::string& outcome, double at);
  std::vector<int64_t> requeue_where(const std::string& condition, double now);

  std::mutex mu_;
  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
};

}  // namespace i2v::server
