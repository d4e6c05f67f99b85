#include "i2v/server/job_store.h"

#include <sqlite3.h>

#include <chrono>

#include "i2v/error.h"

namespace i2v::server {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st_, nullptr) != SQLITE_OK) {
      throw IoError(std::string("job database: cannot prepare statement: ") + sqlite3_errmsg(db));
    }
  }
  ~Statement() { sqlite3_finalize(st_); }
  Statement& bind(int i, int64_t v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
  }
  Statement& bind(int i, double v) {
    sqlite3_bind_double(st_, i, v);
    return *this;
  }
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind_blob(int i, const std::string& v) {
    sqlite3_bind_blob(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  bool step() {
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw IoError(std::string("job database: ") + sqlite3_errmsg(db_));
  }
  int64_t int_at(int c) { return sqlite3_column_int64(st_, c); }
  double double_at(int c) { return sqlite3_column_double(st_, c); }
  std::string text_at(int c) {
    const void* p = sqlite3_column_blob(st_, c);
    int n = sqlite3_column_bytes(st_, c);
    return p ? std::string(static_cast<const char*>(p), n) : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
};

const char* kColumns =
    "id, status, params, image_name, image_format, created_at, started_at, finished_at, "
    "attempts, interrupted, step, total_steps, error, result";

JobParams params_from_json(const nlohmann::json& j) {
  JobParams p;
  p.prompt = j.value("prompt", "");
  p.negative_prompt = j.value("negative_prompt", "");
  p.resolution = j.value("resolution", "512p");
  p.width = j.value("width", 512);
  p.height = j.value("height", 512);
  p.frames = j.value("frames", 16);
  p.fps = j.value("fps", 8);
  p.steps = j.value("steps", 50);
  p.guidance = j.value("guidance", 9.0);
  p.seed = j.value("seed", int64_t{0});
  p.window = j.value("window", -1);  // absent in jobs of older versions
  p.window_stride = j.value("window_stride", 4);
  p.window_fuse = j.value("window_fuse", "pyramid");
  if (j.contains("loras") && j["loras"].is_array())  // absent in jobs of older versions
    for (const auto& l : j["loras"])
      p.loras.push_back({l.value("name", ""), l.value("scale", 1.0)});
  return p;
}

Job job_from_row(Statement& s) {
  Job j;
  j.id = s.int_at(0);
  j.status = parse_job_status(s.text_at(1)).value_or(JobStatus::Failed);
  j.params = params_from_json(nlohmann::json::parse(s.text_at(2), nullptr, false));
  j.image_name = s.text_at(3);
  j.image_format = s.text_at(4);
  j.created_at = s.double_at(5);
  j.started_at = s.double_at(6);
  j.finished_at = s.double_at(7);
  j.attempts = static_cast<int>(s.int_at(8));
  j.interrupted = static_cast<int>(s.int_at(9));
  j.step = static_cast<int>(s.int_at(10));
  j.total_steps = static_cast<int>(s.int_at(11));
  j.error = s.text_at(12);
  j.result = nlohmann::json::parse(s.text_at(13), nullptr, false);
  if (!j.result.is_object()) j.result = nlohmann::json::object();
  return j;
}

}  // namespace

JobStore::JobStore(const std::filesystem::path& db_path) : path_(db_path) {
  if (sqlite3_open_v2(db_path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw IoError("cannot open the job database " + db_path.string() + ": " + msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  try {
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec(
        "CREATE TABLE IF NOT EXISTS jobs ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " status TEXT NOT NULL,"
        " params TEXT NOT NULL,"
        " image BLOB NOT NULL,"
        " image_name TEXT NOT NULL DEFAULT '',"
        " image_format TEXT NOT NULL DEFAULT '',"
        " created_at REAL NOT NULL DEFAULT 0,"
        " started_at REAL NOT NULL DEFAULT 0,"
        " finished_at REAL NOT NULL DEFAULT 0,"
        " attempts INTEGER NOT NULL DEFAULT 0,"
        " interrupted INTEGER NOT NULL DEFAULT 0,"
        " step INTEGER NOT NULL DEFAULT 0,"
        " total_steps INTEGER NOT NULL DEFAULT 0,"
        " error TEXT NOT NULL DEFAULT '',"
        " result TEXT NOT NULL DEFAULT '{}')");
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

JobStore::~JobStore() {
  sqlite3_close(db_);
}

void JobStore::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw IoError("job database " + path_.string() + ": " + msg);
  }
}

Job JobStore::create(const JobParams& params, const std::string& image_bytes,
                     const std::string& image_name, const std::string& image_format) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement s(db_,
              "INSERT INTO jobs (status, params, image, image_name, image_format, created_at, "
              "total_steps) VALUES ('queued', ?, ?, ?, ?, ?, ?)");
  s.bind(1, to_json(params).dump())
      .bind_blob(2, image_bytes)
      .bind(3, image_name)
      .bind(4, image_format)
      .bind(5, now_seconds())
      .bind(6, int64_t{params.steps});
  s.step();
  const int64_t id = sqlite3_last_insert_rowid(db_);
  auto rows = query_jobs(std::string("SELECT ") + kColumns + " FROM jobs WHERE id = ?", id, true);
  return rows.at(0);
}

std::vector<Job> JobStore::query_jobs(const std::string& sql, int64_t arg, bool bind_arg) {
  Statement s(db_, sql);
  if (bind_arg) s.bind(1, arg);
  std::vector<Job> out;
  while (s.step()) out.push_back(job_from_row(s));
  return out;
}

std::optional<Job> JobStore::get(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto rows = query_jobs(std::string("SELECT ") + kColumns + " FROM jobs WHERE id = ?", id, true);
  if (rows.empty()) return std::nullopt;
  return rows[0];
}

std::vector<Job> JobStore::list(int limit, std::optional<JobStatus> status) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string sql = std::string("SELECT ") + kColumns + " FROM jobs";
  if (status) sql += " WHERE status = '" + to_string(*status) + "'";  // from a fixed set
  sql += " ORDER BY id DESC LIMIT ?";
  return query_jobs(sql, limit, true);
}

std::string JobStore::image(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement s(db_, "SELECT image FROM jobs WHERE id = ?");
  s.bind(1, id);
  return s.step() ? s.text_at(0) : std::string();
}

std::vector<int64_t> JobStore::recover_interrupted() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int64_t> ids;
  {
    Statement s(db_, "SELECT id FROM jobs WHERE status = 'running' ORDER BY id");
    while (s.step()) ids.push_back(s.int_at(0));
  }
  exec(
      "UPDATE jobs SET status = 'queued', interrupted = interrupted + 1, step = 0 "
      "WHERE status = 'running'");
  return ids;
}

std::optional<Job> JobStore::next_queued() {
  std::lock_guard<std::mutex> lock(mu_);
  auto rows = query_jobs(
      std::string("SELECT ") + kColumns + " FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1",
      0, false);
  if (rows.empty()) return std::nullopt;
  return rows[0];
}

int JobStore::count(JobStatus status) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement s(db_, "SELECT COUNT(*) FROM jobs WHERE status = ?");
  s.bind(1, to_string(status));
  s.step();
  return static_cast<int>(s.int_at(0));
}

bool JobStore::mark_running(int64_t id, int total_steps) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement s(db_,
              "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = ?, "
              "step = 0, total_steps = ?, error = '' WHERE id = ? AND status = 'queued'");
  s.bind(1, now_seconds()).bind(2, int64_t{total_steps}).bind(3, id).step();
  return sqlite3_changes(db_) > 0;
}

void JobStore::set_progress(int64_t id, int step) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement s(db_, "UPDATE jobs SET step = ? WHERE id = ?");
  s.bind(1, int64_t{step}).bind(2, id).step();
}

void JobStore::mark_finished(int64_t id, const nlohmann::json& result) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement s(db_,
              "UPDATE jobs SET status = 'finished', finished_at = ?, result = ?, step = "
              "total_steps WHERE id = ?");
  s.bind(1, now_seconds()).bind(2, result.dump()).bind(3, id).step();
}

void JobStore::mark_failed(int64_t id, const std::string& error, const nlohmann::json& result) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement s(db_,
              "UPDATE jobs SET status = 'failed', finished_at = ?, error = ?, result = ? WHERE "
              "id = ?");
  s.bind(1, now_seconds())
      .bind(2, error)
      .bind(3, (result.is_object() ? result : nlohmann::json::object()).dump())
      .bind(4, id)
      .step();
}

bool JobStore::mark_cancelled(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement s(db_,
              "UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE id = ? AND status IN "
              "('queued', 'running')");
  s.bind(1, now_seconds()).bind(2, id).step();
  return sqlite3_changes(db_) > 0;
}

void JobStore::requeue(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement s(db_,
              "UPDATE jobs SET status = 'queued', interrupted = interrupted + 1, step = 0 WHERE "
              "id = ? AND status = 'running'");
  s.bind(1, id).step();
}

bool JobStore::remove(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement s(db_, "DELETE FROM jobs WHERE id = ?");
  s.bind(1, id).step();
  return sqlite3_changes(db_) > 0;
}

}  // namespace i2v::server
