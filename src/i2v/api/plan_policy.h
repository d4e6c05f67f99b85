// The one plan policy, shared by generate, estimate, `i2v probe` and the server: which execution
// plan a request runs with and the fallback ladder after it.
//  - The budget: the one given, in full; else what the device has free — on CPU the available
//    memory plus what this process holds already (its loaded model and runtime, which the
//    estimate counts), on a GPU the device's free memory — with 10 % kept spare.
//  - plan "auto": the fastest plan whose predicted peak fits (memory::plan_for); a named plan
//    runs as asked. Either way the cheaper standard plans after it form the ladder.
//  - Overrides (chunk sizes, sequential CFG, residency, tiles) change the chosen plan; tiles
//    apply to every rung.
#pragma once

#include <map>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "i2v/i2v.h"
#include "i2v/memory/estimator.h"
#include "i2v/memory/planner.h"

namespace i2v::api {

struct PlanDecision {
  memory::PlanChoice choice;  // plan (overrides applied), ladder, estimate, candidates, message
  int64_t budget_bytes = 0;   // what the plan had to fit (0: no limit known)
  std::string budget_source;  // "given", "free memory"
};

// The budget a run may use on `gpu` or CPU when none is given, before the margin.
int64_t detected_budget_bytes(bool gpu);

// `held_bytes`: memory the process holds now that the run gets back or reuses (a Generator's
// kept packed weights), added to a detected budget.
PlanDecision decide_plan(const memory::ModelFacts& facts, const memory::Shapes& shapes,
                         const std::string& plan, const PlanOverrides& overrides,
                         int64_t given_budget_bytes, int64_t held_bytes = 0);

// The decision as the public Estimate (its json has the candidates, stages and ladder).
// `weights_8bit`: the model's 8-bit components (ModelFacts::weights_8bit); a plan on them is
// approximate ("exact": false in the JSON).
Estimate to_estimate(const PlanDecision& d, int64_t weights_bytes,
                     const std::map<std::string, std::string>& weights_8bit = {});

}  // namespace i2v::api
