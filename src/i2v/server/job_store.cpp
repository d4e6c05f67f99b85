#include "i2v/server/job_store.h"

#include <unistd.h>

#include <random>

#include "i2v/server/postgres_job_store.h"
#include "i2v/server/sqlite_job_store.h"

namespace i2v::server {

std::unique_ptr<JobStore> open_job_store(const std::string& spec,
                                         const std::filesystem::path& default_sqlite) {
  if (spec.rfind("postgresql://", 0) == 0 || spec.rfind("postgres://", 0) == 0)
    return std::make_unique<PostgresJobStore>(spec);
  std::string file = spec;
  if (file.rfind("sqlite:", 0) == 0) file = file.substr(7);
  return std::make_unique<SqliteJobStore>(file.empty() ? default_sqlite
                                                       : std::filesystem::path(file));
}

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string new_worker_id() {
  std::random_device rd;
  char suffix[9];
  std::snprintf(suffix, sizeof suffix, "%08x", rd());
  return host_name() + ":" + std::to_string(getpid()) + ":" + suffix;
}

}  // namespace i2v::server
