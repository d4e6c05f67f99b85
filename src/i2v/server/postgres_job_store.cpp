#include "i2v/server/postgres_job_store.h"

#include <libpq-fe.h>
#include <sys/select.h>

#include <optional>

#include "i2v/error.h"

namespace i2v::server {
namespace {

// The database's clock in Unix seconds: one clock for every machine's leases.
#define I2V_PG_NOW "EXTRACT(EPOCH FROM clock_timestamp())::float8"

// One statement parameter: text, bytes (binary) or NULL.
struct Param {
  std::string value;
  bool binary = false;
  Param(std::string v) : value(std::move(v)) {}   // NOLINT: text is the common case
  Param(const char* v) : value(v) {}              // NOLINT
  Param(int64_t v) : value(std::to_string(v)) {}  // NOLINT
  Param(int v) : value(std::to_string(v)) {}      // NOLINT
  Param(double v) : value(std::to_string(v)) {}   // NOLINT
  static Param bytes(const std::string& b) {
    Param p(b);
    p.binary = true;
    return p;
  }
};

// A result that clears itself.
class Rows {
 public:
  explicit Rows(PGresult* r) : r_(r) {}
  ~Rows() { PQclear(r_); }
  Rows(Rows&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Rows(const Rows&) = delete;
  int size() const { return PQntuples(r_); }
  std::string text(int row, int col) const {
    return std::string(PQgetvalue(r_, row, col), PQgetlength(r_, row, col));
  }
  int64_t integer(int row, int col) const { return std::stoll(text(row, col)); }
  double real(int row, int col) const { return std::stod(text(row, col)); }
  int64_t affected() const {
    const char* n = PQcmdTuples(r_);
    return n && *n ? std::stoll(n) : 0;
  }

 private:
  PGresult* r_;
};

Rows run(pg_conn* c, const std::string& sql, const std::vector<Param>& params = {},
         bool binary_result = false) {
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  for (const Param& p : params) {
    values.push_back(p.value.data());
    lengths.push_back(static_cast<int>(p.value.size()));
    formats.push_back(p.binary ? 1 : 0);
  }
  // Without parameters: the simple protocol, which also takes several statements (migrations).
  PGresult* r =
      params.empty() && !binary_result
          ? PQexec(c, sql.c_str())
          : PQexecParams(c, sql.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                         lengths.data(), formats.data(), binary_result ? 1 : 0);
  const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    std::string msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c);
    PQclear(r);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    throw IoError("job database (PostgreSQL): " + msg);
  }
  return Rows(r);
}

// BEGIN ... COMMIT, rolled back when the body throws.
template <class F>
auto transaction(pg_conn* c, F body) {
  run(c, "BEGIN");
  try {
    auto out = body();
    run(c, "COMMIT");
    return out;
  } catch (...) {
    PQclear(PQexec(c, "ROLLBACK"));
    throw;
  }
}

const char* kColumns =
    "id, status, params, image_name, image_format, created_at, started_at, finished_at, "
    "attempts, interrupted, step, total_steps, error, result, worker";

std::vector<Job> jobs_of(const Rows& r) {
  std::vector<Job> out;
  for (int i = 0; i < r.size(); ++i) {
    Job j;
    j.id = r.integer(i, 0);
    j.status = parse_job_status(r.text(i, 1)).value_or(JobStatus::Failed);
    j.params = job_params_from_json(nlohmann::json::parse(r.text(i, 2), nullptr, false));
    j.image_name = r.text(i, 3);
    j.image_format = r.text(i, 4);
    j.created_at = r.real(i, 5);
    j.started_at = r.real(i, 6);
    j.finished_at = r.real(i, 7);
    j.attempts = static_cast<int>(r.integer(i, 8));
    j.interrupted = static_cast<int>(r.integer(i, 9));
    j.step = static_cast<int>(r.integer(i, 10));
    j.total_steps = static_cast<int>(r.integer(i, 11));
    j.error = r.text(i, 12);
    j.result = nlohmann::json::parse(r.text(i, 13), nullptr, false);
    if (!j.result.is_object()) j.result = nlohmann::json::object();
    j.worker = r.text(i, 14);
    out.push_back(std::move(j));
  }
  return out;
}

// The same versions as the SQLite store's (sqlite_job_store.cpp), in PostgreSQL's types.
const char* kMigrations[] = {
    "CREATE TABLE jobs ("
    " id BIGSERIAL PRIMARY KEY,"
    " status TEXT NOT NULL,"
    " params TEXT NOT NULL,"
    " image BYTEA NOT NULL,"
    " image_name TEXT NOT NULL DEFAULT '',"
    " image_format TEXT NOT NULL DEFAULT '',"
    " created_at DOUBLE PRECISION NOT NULL DEFAULT 0,"
    " started_at DOUBLE PRECISION NOT NULL DEFAULT 0,"
    " finished_at DOUBLE PRECISION NOT NULL DEFAULT 0,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " interrupted INTEGER NOT NULL DEFAULT 0,"
    " step INTEGER NOT NULL DEFAULT 0,"
    " total_steps INTEGER NOT NULL DEFAULT 0,"
    " error TEXT NOT NULL DEFAULT '',"
    " result TEXT NOT NULL DEFAULT '{}')",
    "ALTER TABLE jobs ADD COLUMN model TEXT NOT NULL DEFAULT '',"
    " ADD COLUMN memory_bytes BIGINT NOT NULL DEFAULT 0,"
    " ADD COLUMN worker TEXT NOT NULL DEFAULT '',"
    " ADD COLUMN lease_until DOUBLE PRECISION NOT NULL DEFAULT 0;"
    "CREATE INDEX jobs_status ON jobs (status, id);"
    "CREATE TABLE attempts (job BIGINT NOT NULL, number INTEGER NOT NULL, worker TEXT NOT NULL,"
    " claimed_at DOUBLE PRECISION NOT NULL, ended_at DOUBLE PRECISION NOT NULL DEFAULT 0,"
    " outcome TEXT NOT NULL DEFAULT '', PRIMARY KEY (job, number));"
    "CREATE TABLE workers (id TEXT PRIMARY KEY, host TEXT NOT NULL, model TEXT NOT NULL,"
    " device TEXT NOT NULL, memory_budget_bytes BIGINT NOT NULL,"
    " last_seen DOUBLE PRECISION NOT NULL, job BIGINT NOT NULL DEFAULT 0);"
    "CREATE TABLE events (id BIGSERIAL PRIMARY KEY, job BIGINT NOT NULL, type TEXT NOT NULL,"
    " data TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL);"
    "CREATE INDEX events_job ON events (job);",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kJobStoreSchemaVersion);

// Ends the job's open attempt when `changed` (a CTE of updated job ids) names it; the
// statement's one value is how many jobs changed.
std::string with_attempt_end(const std::string& job_update, const std::string& outcome) {
  return "WITH changed AS (" + job_update +
         " RETURNING id), ended AS (UPDATE attempts a SET ended_at = " I2V_PG_NOW ", outcome = '" +
         outcome +
         "' FROM changed WHERE a.job = changed.id AND a.outcome = '' RETURNING 1) "
         "SELECT (SELECT COUNT(*) FROM changed)";
}

pg_conn* connect_or_throw(const std::string& url, const std::string& description) {
  pg_conn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = c ? PQerrorMessage(c) : "out of memory";
    PQfinish(c);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    throw IoError("cannot connect to the job database " + description + ": " + msg);
  }
  PQclear(PQexec(c, "SET client_min_messages = warning"));
  return c;
}

// postgresql://user:secret@host/db -> postgresql://user@host/db
std::string without_password(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos) return url;
  const size_t colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon) + url.substr(at);
}

}  // namespace

PostgresJobStore::PostgresJobStore(const std::string& url)
    : url_(url), description_(without_password(url)) {
  conn_ = connect_or_throw(url_, description_);
  try {
    migrate();
  } catch (...) {
    PQfinish(conn_);
    conn_ = nullptr;
    throw;
  }
}

PostgresJobStore::~PostgresJobStore() {
  PQfinish(conn_);
  PQfinish(listen_);
}

pg_conn* PostgresJobStore::connection() {
  if (PQstatus(conn_) != CONNECTION_OK) {
    PQreset(conn_);
    if (PQstatus(conn_) != CONNECTION_OK) {
      throw IoError("lost the job database " + description_ + ": " + PQerrorMessage(conn_));
    }
  }
  return conn_;
}

void PostgresJobStore::migrate() {
  std::lock_guard<std::mutex> lock(mu_);
  pg_conn* c = connection();
  transaction(c, [&] {
    run(c, "SELECT pg_advisory_xact_lock(7240461)");  // one migrating process at a time
    run(c, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    Rows v = run(c, "SELECT version FROM schema_version");
    int version = 0;
    if (v.size() > 0) {
      version = static_cast<int>(v.integer(0, 0));
    } else {
      run(c, "INSERT INTO schema_version VALUES (0)");
    }
    if (version > kJobStoreSchemaVersion) {
      throw IoError("the job database " + description_ + " has schema version " +
                    std::to_string(version) + ", newer than this i2v understands (" +
                    std::to_string(kJobStoreSchemaVersion) + "): update i2v");
    }
    for (int i = version; i < kJobStoreSchemaVersion; ++i) run(c, kMigrations[i]);
    run(c, "UPDATE schema_version SET version = $1", {kJobStoreSchemaVersion});
    return 0;
  });
}

int PostgresJobStore::schema_version() {
  std::lock_guard<std::mutex> lock(mu_);
  Rows r = run(connection(), "SELECT version FROM schema_version");
  return r.size() ? static_cast<int>(r.integer(0, 0)) : 0;
}

Job PostgresJobStore::create(const JobParams& params, const std::string& image_bytes,
                             const std::string& image_name, const std::string& image_format,
                             const JobNeeds& needs) {
  std::lock_guard<std::mutex> lock(mu_);
  Rows r = run(
      connection(),
      "WITH j AS (INSERT INTO jobs (status, params, image, image_name, image_format, "
      "created_at, total_steps, model, memory_bytes) VALUES ('queued', $1, $2, $3, $4, " I2V_PG_NOW
      ", $5, $6, $7) RETURNING " +
          std::string(kColumns) + ") SELECT j.*, pg_notify('i2v_news', 'job') FROM j",
      {to_json(params).dump(), Param::bytes(image_bytes), image_name, image_format, params.steps,
       needs.model, needs.memory_bytes});
  return jobs_of(r).at(0);
}

std::optional<Job> PostgresJobStore::get(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto jobs = jobs_of(
      run(connection(), std::string("SELECT ") + kColumns + " FROM jobs WHERE id = $1", {id}));
  if (jobs.empty()) return std::nullopt;
  return jobs[0];
}

std::vector<Job> PostgresJobStore::list(int limit, std::optional<JobStatus> status) {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_of(run(connection(),
                     std::string("SELECT ") + kColumns +
                         " FROM jobs WHERE ($1 = '' OR status = $1) ORDER BY id DESC LIMIT $2",
                     {status ? to_string(*status) : std::string(), limit}));
}

std::string PostgresJobStore::image(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  Rows r = run(connection(), "SELECT image FROM jobs WHERE id = $1", {id}, /*binary=*/true);
  return r.size() ? r.text(0, 0) : std::string();
}

int PostgresJobStore::count(JobStatus status) {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(
      run(connection(), "SELECT COUNT(*) FROM jobs WHERE status = $1", {to_string(status)})
          .integer(0, 0));
}

bool PostgresJobStore::remove(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  pg_conn* c = connection();
  return transaction(c, [&] {
    run(c, "DELETE FROM events WHERE job = $1", {id});
    run(c, "DELETE FROM attempts WHERE job = $1", {id});
    return run(c, "DELETE FROM jobs WHERE id = $1", {id}).affected() > 0;
  });
}

std::optional<Job> PostgresJobStore::claim(const WorkerInfo& worker, double lease_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  pg_conn* c = connection();
  return transaction(c, [&]() -> std::optional<Job> {
    // SKIP LOCKED: a job another worker is claiming right now is passed over, not waited for.
    Rows r = run(
        c,
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = " I2V_PG_NOW
        ", step = 0, error = '', worker = $1, lease_until = " I2V_PG_NOW
        " + $4::float8 WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND (model = '' OR "
        "model = $2) AND ($3::bigint = 0 OR memory_bytes <= $3::bigint) ORDER BY id LIMIT 1 FOR "
        "UPDATE "
        "SKIP LOCKED) RETURNING " +
            std::string(kColumns),
        {worker.id, worker.model, worker.memory_budget_bytes, lease_seconds});
    auto jobs = jobs_of(r);
    if (jobs.empty()) return std::nullopt;
    run(c,
        "INSERT INTO attempts (job, number, worker, claimed_at) VALUES ($1, $2, $3, " I2V_PG_NOW
        ")",
        {jobs[0].id, jobs[0].attempts, worker.id});
    return jobs[0];
  });
}

Lease PostgresJobStore::renew(int64_t id, const std::string& worker, double lease_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  pg_conn* c = connection();
  if (run(c,
          "UPDATE jobs SET lease_until = " I2V_PG_NOW
          " + $3 WHERE id = $1 AND status = 'running' AND worker = $2",
          {id, worker, lease_seconds})
          .affected() > 0)
    return Lease::Held;
  Rows r = run(c, "SELECT status FROM jobs WHERE id = $1", {id});
  return r.size() && r.text(0, 0) == "cancelled" ? Lease::Cancelled : Lease::Lost;
}

static std::vector<int64_t> requeue_running(pg_conn* c, const std::string& condition) {
  // The attempt ended when its lease ran out (a dead worker), or now when that is earlier.
  Rows r = run(c, "WITH gone AS (SELECT id, lease_until FROM jobs WHERE status = 'running' AND " +
                      condition +
                      " FOR UPDATE SKIP LOCKED), ended AS (UPDATE attempts a SET ended_at = "
                      "LEAST(gone.lease_until, " I2V_PG_NOW
                      "), outcome = 'expired' FROM gone WHERE a.job = gone.id AND a.outcome = '' "
                      "RETURNING 1) UPDATE jobs j SET status = 'queued', interrupted = interrupted "
                      "+ 1, step = 0, worker = '', lease_until = 0 FROM gone WHERE j.id = gone.id "
                      "RETURNING j.id");
  std::vector<int64_t> ids;
  for (int i = 0; i < r.size(); ++i) ids.push_back(r.integer(i, 0));
  if (!ids.empty()) run(c, "SELECT pg_notify('i2v_news', 'requeued')");
  return ids;
}

std::vector<int64_t> PostgresJobStore::requeue_expired() {
  std::lock_guard<std::mutex> lock(mu_);
  return requeue_running(connection(), "lease_until < " I2V_PG_NOW);
}

std::vector<int64_t> PostgresJobStore::requeue_all_running() {
  std::lock_guard<std::mutex> lock(mu_);
  return requeue_running(connection(), "TRUE");
}

void PostgresJobStore::set_progress(int64_t id, const std::string& worker, int step) {
  std::lock_guard<std::mutex> lock(mu_);
  run(connection(),
      "UPDATE jobs SET step = $3 WHERE id = $1 AND status = 'running' AND worker = $2",
      {id, worker, step});
}

bool PostgresJobStore::mark_finished(int64_t id, const std::string& worker,
                                     const nlohmann::json& result) {
  std::lock_guard<std::mutex> lock(mu_);
  return run(connection(),
             with_attempt_end("UPDATE jobs SET status = 'finished', finished_at = " I2V_PG_NOW
                              ", result = $3, step = total_steps, lease_until = 0 WHERE id = $1 "
                              "AND status = 'running' AND worker = $2",
                              "finished"),
             {id, worker, result.dump()})
             .integer(0, 0) > 0;
}

bool PostgresJobStore::mark_failed(int64_t id, const std::string& worker, const std::string& error,
                                   const nlohmann::json& result) {
  std::lock_guard<std::mutex> lock(mu_);
  return run(connection(),
             with_attempt_end("UPDATE jobs SET status = 'failed', finished_at = " I2V_PG_NOW
                              ", error = $3, result = $4, lease_until = 0 WHERE id = $1 AND "
                              "status = 'running' AND worker = $2",
                              "failed"),
             {id, worker, error, (result.is_object() ? result : nlohmann::json::object()).dump()})
             .integer(0, 0) > 0;
}

bool PostgresJobStore::requeue(int64_t id, const std::string& worker) {
  std::lock_guard<std::mutex> lock(mu_);
  pg_conn* c = connection();
  const bool done =
      run(c,
          with_attempt_end("UPDATE jobs SET status = 'queued', interrupted = interrupted + 1, "
                           "step = 0, worker = '', lease_until = 0 WHERE id = $1 AND status = "
                           "'running' AND worker = $2",
                           "requeued"),
          {id, worker})
          .integer(0, 0) > 0;
  if (done) run(c, "SELECT pg_notify('i2v_news', 'requeued')");
  return done;
}

bool PostgresJobStore::mark_cancelled(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  return run(connection(),
             with_attempt_end("UPDATE jobs SET status = 'cancelled', finished_at = " I2V_PG_NOW
                              ", lease_until = 0 WHERE id = $1 AND status IN ('queued', "
                              "'running')",
                              "cancelled"),
             {id})
             .integer(0, 0) > 0;
}

std::vector<Attempt> PostgresJobStore::attempts(int64_t job) {
  std::lock_guard<std::mutex> lock(mu_);
  Rows r = run(connection(),
               "SELECT job, number, worker, claimed_at, ended_at, outcome FROM attempts WHERE job "
               "= $1 ORDER BY number",
               {job});
  std::vector<Attempt> out;
  for (int i = 0; i < r.size(); ++i) {
    out.push_back({r.integer(i, 0), static_cast<int>(r.integer(i, 1)), r.text(i, 2), r.real(i, 3),
                   r.real(i, 4), r.text(i, 5)});
  }
  return out;
}

void PostgresJobStore::heartbeat(const WorkerInfo& w, int64_t job) {
  std::lock_guard<std::mutex> lock(mu_);
  run(connection(),
      "INSERT INTO workers (id, host, model, device, memory_budget_bytes, last_seen, job) VALUES "
      "($1, $2, $3, $4, $5, " I2V_PG_NOW
      ", $6) ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, job = excluded.job",
      {w.id, w.host, w.model, w.device, w.memory_budget_bytes, job});
}

void PostgresJobStore::remove_worker(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  run(connection(), "DELETE FROM workers WHERE id = $1", {id});
}

std::vector<WorkerRecord> PostgresJobStore::workers(double seen_within_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  Rows r = run(connection(),
               "SELECT id, host, model, device, memory_budget_bytes, last_seen, job FROM workers "
               "WHERE last_seen >= " I2V_PG_NOW " - $1 ORDER BY id",
               {seen_within_seconds});
  std::vector<WorkerRecord> out;
  for (int i = 0; i < r.size(); ++i) {
    WorkerRecord w;
    w.info = {r.text(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.integer(i, 4)};
    w.last_seen = r.real(i, 5);
    w.job = r.integer(i, 6);
    out.push_back(w);
  }
  return out;
}

int64_t PostgresJobStore::append_event(int64_t job, const std::string& type,
                                       const nlohmann::json& data) {
  std::lock_guard<std::mutex> lock(mu_);
  return run(connection(),
             "WITH e AS (INSERT INTO events (job, type, data, created_at) VALUES ($1, $2, "
             "$3, " I2V_PG_NOW ") RETURNING id) SELECT e.id, pg_notify('i2v_news', 'event') FROM e",
             {job, type, data.dump()})
      .integer(0, 0);
}

std::vector<StoredEvent> PostgresJobStore::events_after(int64_t after, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  Rows r =
      run(connection(), "SELECT id, job, type, data FROM events WHERE id > $1 ORDER BY id LIMIT $2",
          {after, limit});
  std::vector<StoredEvent> out;
  for (int i = 0; i < r.size(); ++i) {
    out.push_back({r.integer(i, 0), r.integer(i, 1), r.text(i, 2),
                   nlohmann::json::parse(r.text(i, 3), nullptr, false)});
  }
  return out;
}

void PostgresJobStore::wait_for_news(std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> lock(listen_mu_);
  if (!listen_ || PQstatus(listen_) != CONNECTION_OK) {
    PQfinish(listen_);
    listen_ = nullptr;
    pg_conn* c = connect_or_throw(url_, description_);
    PQclear(PQexec(c, "LISTEN i2v_news"));
    listen_ = c;
  }
  PQconsumeInput(listen_);
  bool any = false;
  while (PGnotify* n = PQnotifies(listen_)) {
    PQfreemem(n);
    any = true;
  }
  if (any) return;
  const int fd = PQsocket(listen_);
  fd_set set;
  FD_ZERO(&set);
  FD_SET(fd, &set);
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  if (select(fd + 1, &set, nullptr, nullptr, &tv) > 0) {
    PQconsumeInput(listen_);
    while (PGnotify* n = PQnotifies(listen_)) PQfreemem(n);
  }
}

int PostgresJobStore::prune_events(double age_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(
      run(connection(),
          "DELETE FROM events WHERE job IN (SELECT id FROM jobs WHERE status IN ('finished', "
          "'failed', 'cancelled') AND finished_at < " I2V_PG_NOW
          " - $1) OR NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.id = events.job)",
          {age_seconds})
          .affected());
}

}  // namespace i2v::server
