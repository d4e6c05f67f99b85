// What the server says about memory now: process RSS and the machine's totals. (A job's plan
// comes from the library: VideoGenerator::estimate.)
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace i2v::server {

struct MemorySnapshot {
  size_t rss_bytes = 0;        // resident now
  size_t peak_rss_bytes = 0;   // highest resident so far
  size_t total_bytes = 0;      // machine RAM (MemTotal)
  size_t available_bytes = 0;  // MemAvailable
  std::string source = "process RSS (/proc)";
};

MemorySnapshot memory_snapshot();

nlohmann::json to_json(const MemorySnapshot& m);

}  // namespace i2v::server
