#include "i2v/server/memory_report.h"

#include <algorithm>

#include "i2v/core/runtime.h"

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

int64_t job_memory_budget() {
  const MemorySnapshot m = memory_snapshot();
  if (m.available_bytes == 0) return 0;
  return static_cast<int64_t>(m.available_bytes + m.rss_bytes);
}

nlohmann::json to_json(const MemorySnapshot& m) {
  return {{"rss_bytes", m.rss_bytes},
          {"peak_rss_bytes", m.peak_rss_bytes},
          {"total_bytes", m.total_bytes},
          {"available_bytes", m.available_bytes},
          {"source", m.source}};
}

MemoryEstimate estimate_memory(const JobParams& p, const ModelFacts& m, int64_t budget) {
  const memory::Shapes shapes =
      memory::Shapes::of(p.width, p.height, p.frames, p.guidance, m.element_bytes);
  MemoryEstimate e;
  e.choice = memory::plan_for(m.model, shapes, budget);
  e.budget_bytes = budget;
  e.weights_bytes = e.choice.plan.residency == memory::Residency::StreamBlocks
                        ? m.model.unet_block_bytes
                        : m.model.unet_bytes + m.model.vae_bytes;
  return e;
}

nlohmann::json to_json(const MemoryEstimate& e) {
  const int64_t peak = e.choice.estimate.peak;
  nlohmann::json candidates = nlohmann::json::array();
  for (const auto& c : e.choice.candidates) {
    candidates.push_back({{"plan", c.plan.name},
                          {"predicted_peak_bytes", c.estimate.peak},
                          {"relative_speed", c.relative_speed}});
  }
  return {{"plan", e.choice.plan.name},
          {"fits", e.choice.fits},
          {"message", e.choice.message},
          {"predicted_peak_bytes", peak},
          {"weights_bytes", e.weights_bytes},
          {"activation_bytes", std::max<int64_t>(0, peak - e.weights_bytes)},
          {"available_bytes", e.budget_bytes},
          {"stages", e.choice.estimate.stage},
          {"candidates", candidates},
          {"method",
           "memory engine estimator (configs and shapes; validated within 15% of measured peaks "
           "on CPU)"}};
}

}  // namespace i2v::server
