// The per-run memory log: a JSON line per event (stage start/end, denoising step, plan change)
// appended to a file (e.g. video.mp4.memory.jsonl), plus the human line
// "[Memory] step 10/50: allocated=... reserved=... peak=..." in the program's log.
// Also tracks the peak of every stage for the result metadata.
#pragma once

#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "i2v/memory/memory_stats.h"

namespace i2v::memory {

struct StagePeakRecord {
  int64_t counted_begin = 0;  // counted bytes in use when the stage began
  int64_t counted_peak = 0;   // counting allocator (or CUDA allocated) peak during the stage
  int64_t rss_peak = 0;       // sampled RSS peak during the stage
  int64_t rss_end = 0;
};

class MemoryLog {
 public:
  MemoryLog() = default;
  // Appends to `path` (created or truncated); an empty path only logs and tracks peaks.
  explicit MemoryLog(const std::string& path, bool cuda_device = false);

  // Stage bracket: resets the peaks at begin, records them at end.
  void begin_stage(const std::string& stage);
  void end_stage(const std::string& stage);
  // One denoising step finished (1-based): the [Memory] line and a JSON line.
  void step(int step, int total);
  // Any other event (plan downgrade ...), with free-form fields.
  void event(const std::string& kind, const nlohmann::json& fields);

  const std::map<std::string, StagePeakRecord>& stages() const { return stages_; }
  nlohmann::json stages_json() const;  // {"unet": {"counted_peak_bytes":..., ...}, ...}
  const std::string& path() const { return path_; }

 private:
  void write(nlohmann::json j);
  std::string path_;
  bool cuda_ = false;
  std::unique_ptr<std::ofstream> out_;
  std::mutex mu_;
  std::map<std::string, StagePeakRecord> stages_;
};

}  // namespace i2v::memory
