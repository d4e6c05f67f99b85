// Jobs in SQLite (one file beside the outputs): the history survives restarts, and a job that
// was running when the process died is found again (recover_interrupted) and re-queued.
// Thread-safe: every call takes the store's lock.
#pragma once

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "i2v/server/job.h"

struct sqlite3;

namespace i2v::server {

class JobStore {
 public:
  // Opens (or creates) the database; IoError naming the file when that fails.
  explicit JobStore(const std::filesystem::path& db_path);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  Job create(const JobParams& params, const std::string& image_bytes, const std::string& image_name,
             const std::string& image_format);
  std::optional<Job> get(int64_t id);
  // Newest first; `status` filters when given.
  std::vector<Job> list(int limit, std::optional<JobStatus> status = std::nullopt);
  std::string image(int64_t id);  // the uploaded bytes ("" if none)

  // Jobs left 'running' by a process that died: back to 'queued', interrupted+1. Returns them.
  std::vector<int64_t> recover_interrupted();
  std::optional<Job> next_queued();  // the oldest queued job
  int count(JobStatus status);

  // Queued -> running; false when the job is no longer queued (cancelled meanwhile).
  bool mark_running(int64_t id, int total_steps);
  void set_progress(int64_t id, int step);
  void mark_finished(int64_t id, const nlohmann::json& result);
  void mark_failed(int64_t id, const std::string& error, const nlohmann::json& result = {});
  // Queued or running -> cancelled; false if the job was already terminal (or absent).
  bool mark_cancelled(int64_t id);
  // Running -> queued again (a graceful stop interrupts it; the next start resumes it).
  void requeue(int64_t id);
  bool remove(int64_t id);

 private:
  std::vector<Job> query_jobs(const std::string& sql, int64_t arg, bool bind_arg);
  void exec(const std::string& sql);

  std::mutex mu_;
  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
};

}  // namespace i2v::server
