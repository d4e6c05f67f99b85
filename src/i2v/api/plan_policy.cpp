#include "i2v/api/plan_policy.h"

#include <algorithm>

#include "i2v/core/runtime.h"
#include "i2v/memory/memory_stats.h"

namespace i2v::api {
namespace {

constexpr double kDetectedMargin = 0.10;  // of detected free memory, kept spare

}  // namespace

int64_t detected_budget_bytes(bool gpu) {
  if (gpu) return memory::cuda_free_bytes();
  const int64_t available = memory::available_memory_bytes();
  return available > 0 ? available + memory::process_rss_bytes() : 0;
}

PlanDecision decide_plan(const memory::ModelFacts& facts, const memory::Shapes& shapes,
                         const std::string& plan, const PlanOverrides& o, int64_t given,
                         int64_t held_bytes) {
  PlanDecision d;
  double margin = 0;
  if (given > 0) {
    d.budget_bytes = given;
    d.budget_source = "given";
  } else {
    d.budget_bytes = detected_budget_bytes(shapes.gpu) + (shapes.gpu ? 0 : held_bytes);
    d.budget_source = shapes.gpu       ? "free device memory"
                      : held_bytes > 0 ? "free memory and the kept packed weights"
                                       : "free memory";
    margin = kDetectedMargin;
  }
  memory::PlanChoice& c = d.choice;
  if (plan == "auto") {
    c = memory::plan_for(facts, shapes, d.budget_bytes, margin);
  } else {
    c.candidates = memory::candidates(facts, shapes);
    c.plan = memory::named_plan(plan);
    bool after = false;
    for (const auto& p : memory::standard_plans()) {
      if (after) c.fallback.push_back(p);
      if (p.name == c.plan.name) after = true;
    }
    c.fits = true;  // as asked; the ladder covers a wrong guess
    c.message = "plan '" + c.plan.name + "' (named)";
  }
  if (o.frame_chunk >= 0) c.plan.frame_chunk = o.frame_chunk;
  if (o.temporal_chunk >= 0) c.plan.temporal_chunk = o.temporal_chunk;
  if (o.sequential_cfg) c.plan.sequential_cfg = true;
  if (!o.residency.empty()) c.plan.residency = memory::parse_residency(o.residency);
  if (o.vae_tile != 0) {
    // Approximate: one tiling for the whole run, every rung included.
    c.plan.vae_tile = o.vae_tile;
    c.plan.vae_tile_overlap = o.vae_tile_overlap;
    for (auto& f : c.fallback) {
      f.vae_tile = o.vae_tile;
      f.vae_tile_overlap = o.vae_tile_overlap;
    }
  }
  c.estimate = memory::estimate(facts, shapes, c.plan);
  return d;
}

Estimate to_estimate(const PlanDecision& d, int64_t weights_bytes,
                     const std::map<std::string, std::string>& weights_8bit) {
  const memory::PlanChoice& c = d.choice;
  Estimate e;
  e.fits = c.fits;
  e.plan = c.plan.name;
  e.predicted_peak_bytes = c.estimate.peak;
  e.budget_bytes = d.budget_bytes;
  e.message = c.message;
  nlohmann::json candidates = nlohmann::json::array();
  for (const auto& cand : c.candidates) {
    candidates.push_back({{"plan", cand.plan.to_json()},
                          {"predicted_peak_bytes", cand.estimate.peak},
                          {"stages", cand.estimate.stage},
                          {"relative_speed", cand.relative_speed}});
  }
  nlohmann::json ladder = nlohmann::json::array();
  for (const auto& p : c.fallback) ladder.push_back(p.name);
  e.json =
      nlohmann::json{{"plan", c.plan.to_json()},
                     {"fits", c.fits},
                     {"exact", c.plan.exact() && weights_8bit.empty()},
                     {"weights_8bit", weights_8bit},
                     {"message", c.message},
                     {"predicted_peak_bytes", c.estimate.peak},
                     {"weights_bytes", weights_bytes},
                     {"activation_bytes", std::max<int64_t>(0, c.estimate.peak - weights_bytes)},
                     {"budget_bytes", d.budget_bytes},
                     {"budget_source", d.budget_source},
                     {"stages", c.estimate.stage},
                     {"fallback", ladder},
                     {"candidates", candidates},
                     {"method",
                      "memory engine estimator (configs and shapes; validated within 15% of "
                      "measured peaks on CPU)"}}
          .dump();
  return e;
}

}  // namespace i2v::api
