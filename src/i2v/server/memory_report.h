// What the server says about memory: a snapshot now (process RSS, machine totals) and a
// predicted peak for a job's parameters. Both are small seams: the memory engine (counting
// allocator, estimator, planner) replaces their insides without changing the API.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "i2v/server/job.h"

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

struct ModelFacts {
  size_t weights_bytes = 0;      // sum of the weight files
  int unet_base_channels = 320;  // block_out_channels[0]
  int latent_channels = 4;
  int vae_scale_factor = 8;
};

struct MemoryEstimate {
  size_t weights_bytes = 0, activation_bytes = 0, predicted_peak_bytes = 0;
  size_t available_bytes = 0;
  bool fits = true;
  std::string method;  // says how rough it is
};

// A crude formula (weights + a multiple of the largest UNet activation + decoded frames), not
// the memory engine's validated estimate; labelled as such in `method`.
MemoryEstimate estimate_memory(const JobParams& p, const ModelFacts& model, size_t available_bytes);
nlohmann::json to_json(const MemoryEstimate& e);

}  // namespace i2v::server
