#include "i2v/server/memory_report.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "i2v/core/runtime.h"

namespace i2v::server {
namespace {

// A "Key:   123 kB" line of /proc/meminfo, in bytes (0 if absent).
size_t meminfo_bytes(const std::string& key) {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) {
      std::istringstream ss(line.substr(key.size() + 1));
      size_t kb = 0;
      ss >> kb;
      return kb * 1024;
    }
  }
  return 0;
}

}  // namespace

MemorySnapshot memory_snapshot() {
  MemorySnapshot m;
  m.rss_bytes = current_rss_bytes();
  // getrusage and /proc count slightly differently: the peak is never below the current.
  m.peak_rss_bytes = std::max(peak_rss_bytes(), m.rss_bytes);
  m.total_bytes = meminfo_bytes("MemTotal");
  m.available_bytes = meminfo_bytes("MemAvailable");
  return m;
}

nlohmann::json to_json(const MemorySnapshot& m) {
  return {{"rss_bytes", m.rss_bytes},
          {"peak_rss_bytes", m.peak_rss_bytes},
          {"total_bytes", m.total_bytes},
          {"available_bytes", m.available_bytes},
          {"source", m.source}};
}

MemoryEstimate estimate_memory(const JobParams& p, const ModelFacts& m, size_t available) {
  MemoryEstimate e;
  e.weights_bytes = m.weights_bytes;
  const double h = p.height / double(m.vae_scale_factor), w = p.width / double(m.vae_scale_factor);
  const double cfg = p.guidance > 1.0 ? 2.0 : 1.0;
  // Level-0 UNet activations (fp32): ~24 live tensors of F x C x h x w, plus one frame's
  // attention scores (h*w)^2 per head block, plus the decoded video in fp32 for 2 frames at once.
  const double level0 = cfg * p.frames * m.unet_base_channels * h * w * 4.0;
  const double scores = cfg * 8.0 * (h * w) * (h * w) * 4.0 / 8.0;
  const double decode = 2.0 * p.width * p.height * 128.0 * 4.0;
  e.activation_bytes = static_cast<size_t>(24.0 * level0 + scores + decode);
  e.predicted_peak_bytes = e.weights_bytes + e.activation_bytes;
  e.available_bytes = available;
  e.fits = available == 0 || e.predicted_peak_bytes < available;
  e.method =
      "crude formula (weights + 24 level-0 UNet activations + attention scores + decode); "
      "a placeholder until the memory engine's estimator";
  return e;
}

nlohmann::json to_json(const MemoryEstimate& e) {
  return {{"weights_bytes", e.weights_bytes},
          {"activation_bytes", e.activation_bytes},
          {"predicted_peak_bytes", e.predicted_peak_bytes},
          {"available_bytes", e.available_bytes},
          {"fits", e.fits},
          {"method", e.method}};
}

}  // namespace i2v::server
