#include "i2v/server/memory_report.h"

#include <algorithm>

#include "i2v/core/runtime.h"
#include "i2v/memory/planner.h"

namespace i2v::server {

MemorySnapshot memory_snapshot() {
  MemorySnapshot m;
  m.rss_bytes = current_rss_bytes();
  // getrusage and /proc count slightly differently: the peak is never below the current.
  m.peak_rss_bytes = std::max(peak_rss_bytes(), m.rss_bytes);
  m.total_bytes = static_cast<size_t>(memory::meminfo_bytes("MemTotal"));
  m.available_bytes = static_cast<size_t>(memory::meminfo_bytes("MemAvailable"));
  return m;
}

nlohmann::json to_json(const MemorySnapshot& m) {
  return {{"rss_bytes", m.rss_bytes},
          {"peak_rss_bytes", m.peak_rss_bytes},
          {"total_bytes", m.total_bytes},
          {"available_bytes", m.available_bytes},
          {"source", m.source}};
}

}  // namespace i2v::server
