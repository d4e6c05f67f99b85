#include "i2v/memory/memory_log.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "i2v/error.h"
#include "i2v/memory/memory_stats.h"

namespace i2v::memory {
namespace {

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

nlohmann::json snapshot_json(const MemorySnapshot& s) {
  return {{"allocated_bytes", s.allocated},
          {"reserved_bytes", s.reserved},
          {"peak_bytes", s.peak},
          {"rss_bytes", s.rss},
          {"rss_peak_bytes", s.rss_peak_sampled},
          {"process_peak_rss_bytes", s.rss_peak_process},
          {"device", s.cuda ? "cuda" : "cpu"}};
}

}  // namespace

MemoryLog::MemoryLog(const std::string& path, bool cuda_device) : path_(path), cuda_(cuda_device) {
  if (!path.empty()) {
    out_ = std::make_unique<std::ofstream>(path, std::ios::trunc);
    if (!*out_) throw IoError("cannot write the memory log " + path);
  }
}

void MemoryLog::write(nlohmann::json j) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!out_) return;
  j["time"] = now_seconds();
  *out_ << j.dump() << "\n";
  out_->flush();
}

void MemoryLog::begin_stage(const std::string& stage) {
  release_cached_blocks();  // so this stage's RSS peak is its own, not the last stage's blocks
  reset_cpu_peak();
  reset_sampled_peak_rss();
  if (cuda_) reset_cuda_peak();
  stages_[stage].counted_begin = snapshot(cuda_).allocated;
  write({{"event", "stage_begin"}, {"stage", stage}, {"memory", snapshot_json(snapshot(cuda_))}});
}

void MemoryLog::end_stage(const std::string& stage) {
  MemorySnapshot s = snapshot(cuda_);
  StagePeakRecord& r = stages_[stage];
  r.counted_peak = std::max(r.counted_peak, s.peak);
  r.rss_peak = std::max(r.rss_peak, s.rss_peak_sampled);
  r.rss_end = s.rss;
  write({{"event", "stage_end"}, {"stage", stage}, {"memory", snapshot_json(s)}});
}

void MemoryLog::step(int step, int total) {
  MemorySnapshot s = snapshot(cuda_);
  spdlog::info("[Memory] step {}/{}: allocated={} reserved={} peak={} rss_peak={}", step, total,
               format_bytes(s.allocated), format_bytes(s.reserved), format_bytes(s.peak),
               format_bytes(s.rss_peak_sampled));
  write({{"event", "step"}, {"step", step}, {"total", total}, {"memory", snapshot_json(s)}});
}

void MemoryLog::event(const std::string& kind, const nlohmann::json& fields) {
  nlohmann::json j = fields;
  j["event"] = kind;
  j["memory"] = snapshot_json(snapshot(cuda_));
  write(j);
}

nlohmann::json MemoryLog::stages_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, r] : stages_) {
    j[name] = {{"counted_begin_bytes", r.counted_begin},
               {"counted_peak_bytes", r.counted_peak},
               {"rss_peak_bytes", r.rss_peak},
               {"rss_end_bytes", r.rss_end}};
  }
  return j;
}

}  // namespace i2v::memory
