// What the server says about memory: a snapshot now (process RSS, machine totals), and for a
// job's parameters the memory engine's plan: the fastest plan whose predicted peak fits what is
// available, with the cheaper plans after it as the job's fallback ladder.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "i2v/memory/planner.h"
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

// What a job may use: the memory available to the machine plus what this process holds already
// (its resident model and runtime, which the estimate counts); 0 when unknown.
int64_t job_memory_budget();
nlohmann::json to_json(const MemorySnapshot& m);

// What the estimator knows of the loaded model, and its compute element size.
struct ModelFacts {
  memory::ModelFacts model;
  int64_t element_bytes = 4;
};

struct MemoryEstimate {
  memory::PlanChoice choice;  // plan, fallback ladder, predicted peak per stage, candidates
  int64_t budget_bytes = 0;   // what the plan had to fit (0: no limit known)
  int64_t weights_bytes = 0;  // of the predicted peak: the weights resident in the UNet stage
};

// The memory engine's planner for these parameters under `budget_bytes` (0 = no limit): when
// nothing fits, `choice.fits` is false and `choice.message` names the smallest settings that
// would.
MemoryEstimate estimate_memory(const JobParams& p, const ModelFacts& model, int64_t budget_bytes);
nlohmann::json to_json(const MemoryEstimate& e);

}  // namespace i2v::server
