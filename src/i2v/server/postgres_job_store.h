// The job store in PostgreSQL (libpq): one queue shared by a front (`i2v serve`) and workers
// (`i2v worker`) on many machines. Claims take `FOR UPDATE SKIP LOCKED`, so workers never wait
// on each other and never take the same job; times come from the database's clock, so leases
// mean the same on every machine; events and new jobs are announced with NOTIFY. The schema is
// versioned and migrated on open under an advisory lock (many processes may start at once).
#pragma once

#include <mutex>

#include "i2v/server/job_store.h"

struct pg_conn;

namespace i2v::server {

class PostgresJobStore : public JobStore {
 public:
  // `url`: postgresql://[user[:password]@]host[:port]/db[?...] (libpq's connection URI).
  // IoError naming the server (never the password) when it cannot connect or migrate.
  explicit PostgresJobStore(const std::string& url);
  ~PostgresJobStore() override;
  PostgresJobStore(const PostgresJobStore&) = delete;
  PostgresJobStore& operator=(const PostgresJobStore&) = delete;

  std::string describe() const override { return description_; }
  bool shared() const override { return true; }
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
  pg_conn* connection();  // reconnects a broken connection
  void migrate();

  std::string url_, description_;
  std::mutex mu_;
  pg_conn* conn_ = nullptr;
  std::mutex listen_mu_;
  pg_conn* listen_ = nullptr;  // LISTEN i2v_news, opened by the first wait_for_news
};

}  // namespace i2v::server
