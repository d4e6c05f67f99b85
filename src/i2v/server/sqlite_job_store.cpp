#include "i2v/server/sqlite_job_store.h"

#include <sqlite3.h>

#include <chrono>
#include <thread>

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
    "attempts, interrupted, step, total_steps, error, result, worker";

Job job_from_row(Statement& s) {
  Job j;
  j.id = s.int_at(0);
  j.status = parse_job_status(s.text_at(1)).value_or(JobStatus::Failed);
  j.params = job_params_from_json(nlohmann::json::parse(s.text_at(2), nullptr, false));
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
  j.worker = s.text_at(14);
  return j;
}

// Version 1: the jobs table of the first release (no version table then). Version 2: the
// shared queue (leases, attempts, workers, events).
const char* kMigrations[] = {
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
    " result TEXT NOT NULL DEFAULT '{}')",
    "ALTER TABLE jobs ADD COLUMN model TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE jobs ADD COLUMN memory_bytes INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN worker TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE jobs ADD COLUMN lease_until REAL NOT NULL DEFAULT 0;"
    "CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, id);"
    "CREATE TABLE attempts (job INTEGER NOT NULL, number INTEGER NOT NULL, worker TEXT NOT NULL,"
    " claimed_at REAL NOT NULL, ended_at REAL NOT NULL DEFAULT 0,"
    " outcome TEXT NOT NULL DEFAULT '', PRIMARY KEY (job, number));"
    "CREATE TABLE workers (id TEXT PRIMARY KEY, host TEXT NOT NULL, model TEXT NOT NULL,"
    " device TEXT NOT NULL, memory_budget_bytes INTEGER NOT NULL, last_seen REAL NOT NULL,"
    " job INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, job INTEGER NOT NULL,"
    " type TEXT NOT NULL, data TEXT NOT NULL, created_at REAL NOT NULL);"
    "CREATE INDEX events_job ON events (job);",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kJobStoreSchemaVersion);

}  // namespace

SqliteJobStore::SqliteJobStore(const std::filesystem::path& db_path) : path_(db_path) {
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
    migrate();
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

SqliteJobStore::~SqliteJobStore() {
  sqlite3_close(db_);
}

template <class F>
auto SqliteJobStore::transaction(F body) {
  exec("BEGIN IMMEDIATE");  // takes the write lock now: no other connection writes in between
  try {
    auto out = body();
    exec("COMMIT");
    return out;
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void SqliteJobStore::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw IoError("job database " + path_.string() + ": " + msg);
  }
}

void SqliteJobStore::migrate() {
  transaction([&] {
    exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    int version = 0;
    {
      Statement s(db_, "SELECT version FROM schema_version");
      if (s.step()) {
        version = static_cast<int>(s.int_at(0));
      } else {
        Statement t(db_,
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'jobs'");
        t.step();
        version = t.int_at(0) > 0 ? 1 : 0;  // a database of the first release
        exec("INSERT INTO schema_version VALUES (0)");
      }
    }
    if (version > kJobStoreSchemaVersion) {
      throw IoError("the job database " + path_.string() + " has schema version " +
                    std::to_string(version) + ", newer than this i2v understands (" +
                    std::to_string(kJobStoreSchemaVersion) + "): update i2v");
    }
    for (int v = version; v < kJobStoreSchemaVersion; ++v) exec(kMigrations[v]);
    exec("UPDATE schema_version SET version = " + std::to_string(kJobStoreSchemaVersion));
    return 0;
  });
}

int SqliteJobStore::schema_version() {
  std::lock_guard<std::mutex> lock(mu_);
  Statement s(db_, "SELECT version FROM schema_version");
  return s.step() ? static_cast<int>(s.int_at(0)) : 0;
}

Job SqliteJobStore::create(const JobParams& params, const std::string& image_bytes,
                           const std::string& image_name, const std::string& image_format,
                           const JobNeeds& needs) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement s(db_,
              "INSERT INTO jobs (status, params, image, image_name, image_format, created_at, "
              "total_steps, model, memory_bytes) VALUES ('queued', ?, ?, ?, ?, ?, ?, ?, ?)");
  s.bind(1, to_json(params).dump())
      .bind_blob(2, image_bytes)
      .bind(3, image_name)
      .bind(4, image_format)
      .bind(5, now_seconds())
      .bind(6, int64_t{params.steps})
      .bind(7, needs.model)
      .bind(8, needs.memory_bytes);
  s.step();
  return query_jobs("id = ?", sqlite3_last_insert_rowid(db_), true).at(0);
}

std::vector<Job> SqliteJobStore::query_jobs(const std::string& where, int64_t arg, bool bind_arg) {
  Statement s(db_, std::string("SELECT ") + kColumns + " FROM jobs WHERE " + where);
  if (bind_arg) s.bind(1, arg);
  std::vector<Job> out;
  while (s.step()) out.push_back(job_from_row(s));
  return out;
}

std::optional<Job> SqliteJobStore::get(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto rows = query_jobs("id = ?", id, true);
  if (rows.empty()) return std::nullopt;
  return rows[0];
}

std::vector<Job> SqliteJobStore::list(int limit, std::optional<JobStatus> status) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string where = status ? "status = '" + to_string(*status) + "'" : "1";  // a fixed set
  return query_jobs(where + " ORDER BY id DESC LIMIT ?", limit, true);
}

std::string SqliteJobStore::image(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement s(db_, "SELECT image FROM jobs WHERE id = ?");
  s.bind(1, id);
  return s.step() ? s.text_at(0) : std::string();
}

int SqliteJobStore::count(JobStatus status) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement s(db_, "SELECT COUNT(*) FROM jobs WHERE status = ?");
  s.bind(1, to_string(status));
  s.step();
  return static_cast<int>(s.int_at(0));
}

bool SqliteJobStore::remove(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  return transaction([&] {
    Statement(db_, "DELETE FROM events WHERE job = ?").bind(1, id).step();
    Statement(db_, "DELETE FROM attempts WHERE job = ?").bind(1, id).step();
    Statement(db_, "DELETE FROM jobs WHERE id = ?").bind(1, id).step();
    const bool removed = sqlite3_changes(db_) > 0;
    return removed;
  });
}

std::optional<Job> SqliteJobStore::claim(const WorkerInfo& worker, double lease_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  // One writer at a time: no other process can claim between the select and the update.
  return transaction([&]() -> std::optional<Job> {
    const double now = now_seconds();
    int64_t id = 0;
    {
      Statement s(db_,
                  "SELECT id FROM jobs WHERE status = 'queued' AND (model = '' OR model = ?) AND "
                  "(? = 0 OR memory_bytes <= ?) ORDER BY id LIMIT 1");
      s.bind(1, worker.model)
          .bind(2, worker.memory_budget_bytes)
          .bind(3, worker.memory_budget_bytes);
      if (s.step()) id = s.int_at(0);
    }
    if (id == 0) return std::nullopt;
    Statement(db_,
              "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = ?, "
              "step = 0, error = '', worker = ?, lease_until = ? WHERE id = ?")
        .bind(1, now)
        .bind(2, worker.id)
        .bind(3, now + lease_seconds)
        .bind(4, id)
        .step();
    Statement(db_,
              "INSERT INTO attempts (job, number, worker, claimed_at) SELECT id, attempts, ?, ? "
              "FROM jobs WHERE id = ?")
        .bind(1, worker.id)
        .bind(2, now)
        .bind(3, id)
        .step();
    Job job = query_jobs("id = ?", id, true).at(0);
    return job;
  });
}

Lease SqliteJobStore::renew(int64_t id, const std::string& worker, double lease_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement(db_,
            "UPDATE jobs SET lease_until = ? WHERE id = ? AND status = 'running' AND worker = ?")
      .bind(1, now_seconds() + lease_seconds)
      .bind(2, id)
      .bind(3, worker)
      .step();
  if (sqlite3_changes(db_) > 0) return Lease::Held;
  Statement s(db_, "SELECT status FROM jobs WHERE id = ?");
  s.bind(1, id);
  return s.step() && s.text_at(0) == "cancelled" ? Lease::Cancelled : Lease::Lost;
}

void SqliteJobStore::end_attempt(int64_t id, const std::string& outcome, double at) {
  Statement(db_,
            "UPDATE attempts SET ended_at = ?, outcome = ? WHERE job = ? AND outcome = '' AND "
            "number = (SELECT MAX(number) FROM attempts WHERE job = ?)")
      .bind(1, at)
      .bind(2, outcome)
      .bind(3, id)
      .bind(4, id)
      .step();
}

std::vector<int64_t> SqliteJobStore::requeue_where(const std::string& condition, double now) {
  return transaction([&] {
    std::vector<int64_t> ids;
    {
      Statement s(db_,
                  "SELECT id, lease_until FROM jobs WHERE status = 'running' AND " + condition);
      s.bind(1, now);
      std::vector<std::pair<int64_t, double>> rows;
      while (s.step()) rows.emplace_back(s.int_at(0), s.double_at(1));
      for (auto [id, lease_until] : rows) {
        // The attempt ended when its lease did (a dead worker) or now (a stopped process).
        end_attempt(id, "expired", std::min(now, lease_until > 0 ? lease_until : now));
        ids.push_back(id);
      }
    }
    for (int64_t id : ids) {
      Statement(db_,
                "UPDATE jobs SET status = 'queued', interrupted = interrupted + 1, step = 0, "
                "worker = '', lease_until = 0 WHERE id = ?")
          .bind(1, id)
          .step();
    }
    return ids;
  });
}

std::vector<int64_t> SqliteJobStore::requeue_expired() {
  std::lock_guard<std::mutex> lock(mu_);
  return requeue_where("lease_until < ?", now_seconds());
}

std::vector<int64_t> SqliteJobStore::requeue_all_running() {
  std::lock_guard<std::mutex> lock(mu_);
  return requeue_where("? > 0", now_seconds());  // every running job
}

void SqliteJobStore::set_progress(int64_t id, const std::string& worker, int step) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement(db_, "UPDATE jobs SET step = ? WHERE id = ? AND status = 'running' AND worker = ?")
      .bind(1, int64_t{step})
      .bind(2, id)
      .bind(3, worker)
      .step();
}

bool SqliteJobStore::mark_finished(int64_t id, const std::string& worker,
                                   const nlohmann::json& result) {
  std::lock_guard<std::mutex> lock(mu_);
  return transaction([&] {
    const double now = now_seconds();
    Statement(db_,
              "UPDATE jobs SET status = 'finished', finished_at = ?, result = ?, step = "
              "total_steps, lease_until = 0 WHERE id = ? AND status = 'running' AND worker = ?")
        .bind(1, now)
        .bind(2, result.dump())
        .bind(3, id)
        .bind(4, worker)
        .step();
    const bool done = sqlite3_changes(db_) > 0;
    if (done) end_attempt(id, "finished", now);
    return done;
  });
}

bool SqliteJobStore::mark_failed(int64_t id, const std::string& worker, const std::string& error,
                                 const nlohmann::json& result) {
  std::lock_guard<std::mutex> lock(mu_);
  return transaction([&] {
    const double now = now_seconds();
    Statement(db_,
              "UPDATE jobs SET status = 'failed', finished_at = ?, error = ?, result = ?, "
              "lease_until = 0 WHERE id = ? AND status = 'running' AND worker = ?")
        .bind(1, now)
        .bind(2, error)
        .bind(3, (result.is_object() ? result : nlohmann::json::object()).dump())
        .bind(4, id)
        .bind(5, worker)
        .step();
    const bool done = sqlite3_changes(db_) > 0;
    if (done) end_attempt(id, "failed", now);
    return done;
  });
}

bool SqliteJobStore::requeue(int64_t id, const std::string& worker) {
  std::lock_guard<std::mutex> lock(mu_);
  return transaction([&] {
    Statement(db_,
              "UPDATE jobs SET status = 'queued', interrupted = interrupted + 1, step = 0, "
              "worker = '', lease_until = 0 WHERE id = ? AND status = 'running' AND worker = ?")
        .bind(1, id)
        .bind(2, worker)
        .step();
    const bool done = sqlite3_changes(db_) > 0;
    if (done) end_attempt(id, "requeued", now_seconds());
    return done;
  });
}

bool SqliteJobStore::mark_cancelled(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  return transaction([&] {
    const double now = now_seconds();
    Statement(db_,
              "UPDATE jobs SET status = 'cancelled', finished_at = ?, lease_until = 0 WHERE id = ? "
              "AND status IN ('queued', 'running')")
        .bind(1, now)
        .bind(2, id)
        .step();
    const bool done = sqlite3_changes(db_) > 0;
    if (done) end_attempt(id, "cancelled", now);
    return done;
  });
}

std::vector<Attempt> SqliteJobStore::attempts(int64_t job) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement s(db_,
              "SELECT job, number, worker, claimed_at, ended_at, outcome FROM attempts WHERE "
              "job = ? ORDER BY number");
  s.bind(1, job);
  std::vector<Attempt> out;
  while (s.step()) {
    out.push_back({s.int_at(0), static_cast<int>(s.int_at(1)), s.text_at(2), s.double_at(3),
                   s.double_at(4), s.text_at(5)});
  }
  return out;
}

void SqliteJobStore::heartbeat(const WorkerInfo& w, int64_t job) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement(db_,
            "INSERT INTO workers (id, host, model, device, memory_budget_bytes, last_seen, job) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET last_seen = "
            "excluded.last_seen, job = excluded.job")
      .bind(1, w.id)
      .bind(2, w.host)
      .bind(3, w.model)
      .bind(4, w.device)
      .bind(5, w.memory_budget_bytes)
      .bind(6, now_seconds())
      .bind(7, job)
      .step();
}

void SqliteJobStore::remove_worker(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement(db_, "DELETE FROM workers WHERE id = ?").bind(1, id).step();
}

std::vector<WorkerRecord> SqliteJobStore::workers(double seen_within_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement s(db_,
              "SELECT id, host, model, device, memory_budget_bytes, last_seen, job FROM workers "
              "WHERE last_seen >= ? ORDER BY id");
  s.bind(1, now_seconds() - seen_within_seconds);
  std::vector<WorkerRecord> out;
  while (s.step()) {
    WorkerRecord r;
    r.info = {s.text_at(0), s.text_at(1), s.text_at(2), s.text_at(3), s.int_at(4)};
    r.last_seen = s.double_at(5);
    r.job = s.int_at(6);
    out.push_back(r);
  }
  return out;
}

int64_t SqliteJobStore::append_event(int64_t job, const std::string& type,
                                     const nlohmann::json& data) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement(db_, "INSERT INTO events (job, type, data, created_at) VALUES (?, ?, ?, ?)")
      .bind(1, job)
      .bind(2, type)
      .bind(3, data.dump())
      .bind(4, now_seconds())
      .step();
  return sqlite3_last_insert_rowid(db_);
}

std::vector<StoredEvent> SqliteJobStore::events_after(int64_t after, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement s(db_, "SELECT id, job, type, data FROM events WHERE id > ? ORDER BY id LIMIT ?");
  s.bind(1, after).bind(2, int64_t{limit});
  std::vector<StoredEvent> out;
  while (s.step()) {
    out.push_back({s.int_at(0), s.int_at(1), s.text_at(2),
                   nlohmann::json::parse(s.text_at(3), nullptr, false)});
  }
  return out;
}

void SqliteJobStore::wait_for_news(std::chrono::milliseconds timeout) {
  // No notifications in SQLite: the caller polls.
  std::this_thread::sleep_for(std::min(timeout, std::chrono::milliseconds(200)));
}

int SqliteJobStore::prune_events(double age_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement(db_,
            "DELETE FROM events WHERE job IN (SELECT id FROM jobs WHERE status IN ('finished', "
            "'failed', 'cancelled') AND finished_at < ?) OR job NOT IN (SELECT id FROM jobs)")
      .bind(1, now_seconds() - age_seconds)
      .step();
  return sqlite3_changes(db_);
}

}  // namespace i2v::server
