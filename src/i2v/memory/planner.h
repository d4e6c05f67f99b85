// Named plans from fastest to cheapest, and the planner that picks the fastest one whose
// predicted peak fits a budget (or explains what would fit). The policy around it (which budget,
// named plans, overrides) is the library's one: api/plan_policy.h.
//
//   auto choice = memory::plan_for(facts, shapes, budget);   // budget 0 = no limit
//   if (!choice.fits) -> choice.message says the smallest settings that would fit
//   request.plan = choice.plan; request.fallback = choice.fallback;
#pragma once

#include <string>
#include <vector>

#include "i2v/memory/estimator.h"
#include "i2v/memory/exec_plan.h"

namespace i2v::memory {

struct PlanCandidate {
  ExecPlan plan;
  double relative_speed = 1.0;  // 1 = the plain plan's speed (measured, bench/memory)
  Estimate estimate;
};

// packed, plain, chunked, chunked+seqcfg, stream — in that order (each uses less memory). The
// candidates offer packed only for bf16 on a CPU with the UNet used as stored and enough steps.
// For a GPU (Shapes::gpu) the candidates add plain+on-demand after plain and run the chunked
// plans on-demand (one model on the device at a time).
std::vector<ExecPlan> standard_plans();
ExecPlan named_plan(const std::string& name);  // ConfigError listing the names
double relative_speed(const ExecPlan& plan);

std::vector<PlanCandidate> candidates(const ModelFacts& m, const Shapes& s);

struct PlanChoice {
  bool fits = false;
  ExecPlan plan;                   // the chosen plan (the cheapest when nothing fits)
  std::vector<ExecPlan> fallback;  // the cheaper plans after it, in order (the fallback ladder)
  Estimate estimate;
  std::vector<PlanCandidate> candidates;
  std::string message;  // why this plan; when nothing fits, the smallest settings that would
};

// budget <= 0: no limit (the fastest plan). `margin`: fraction of the budget kept free.
PlanChoice plan_for(const ModelFacts& m, const Shapes& s, int64_t budget, double margin = 0.0);

// The largest square resolution (multiple of 64, up to 2048) x frames (8, 16, 24, 32) that fit
// `budget`, with the fastest plan that fits it (probe --tiers).
struct TierResult {
  int64_t budget = 0;
  bool any = false;
  Shapes shapes;
  ExecPlan plan;
  int64_t predicted = 0;
};
std::vector<TierResult> tiers(const ModelFacts& m, const Shapes& base,
                              const std::vector<int64_t>& budgets);

// A /proc/meminfo field ("MemTotal", "MemAvailable", ...) in bytes; 0 where unavailable.
int64_t meminfo_bytes(const std::string& key);
// Free host memory (MemAvailable). A GPU's free memory is memory::cuda_free_bytes().
int64_t available_memory_bytes();

}  // namespace i2v::memory
