// The state of one I2VGenXLPipeline::generate call: the request's hooks, the memory log, the
// fallback ladder and the result being filled. Private to the pipeline's sources.
#pragma once

#include <chrono>
#include <string>
#include <utility>

#include "i2v/pipeline/i2v_pipeline.h"

namespace i2v::pipeline {

struct I2VGenXLPipeline::Run {
  Run(const GenerationRequest& r, const GenerationHooks& h)
      : hooks(h),
        log(h.memory_log ? *h.memory_log : own_log),
        ladder(r.plan, r.fallback, &log),
        cfg(r.guidance_scale > 1.0) {}

  const GenerationHooks& hooks;
  memory::MemoryLog own_log;
  memory::MemoryLog& log;
  memory::FallbackLadder ladder;
  const bool cfg;
  bool approximate = false;  // an approximate mode ran (tiled decode fallback, frame windows)
  GenerationResult result;

  void dump(const std::string& name, const at::Tensor& t) const {
    if (hooks.dump) hooks.dump(name, t);
  }

  // A stage: its peaks bracketed in the memory log (`name`), its time in stage_seconds[`key`].
  template <class F>
  auto stage(const std::string& name, const std::string& key, F&& work) -> decltype(work()) {
    const auto t0 = std::chrono::steady_clock::now();
    log.begin_stage(name);
    struct End {
      memory::MemoryLog& log;
      const std::string& name;
      ~End() { log.end_stage(name); }
    } end{log, name};
    auto out = work();
    result.stage_seconds[key] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
  }

  // One piece of work under the fallback ladder: attempt(plan) is redone with the next cheaper
  // plan when an allocation fails (on_switch re-stages what the old plan had staged).
  template <class Attempt>
  auto guarded(const std::string& stage, int step, Attempt&& attempt,
               const memory::FallbackLadder::Switch& on_switch = {}) {
    return ladder.run(
        stage, step,
        [&](const memory::ExecPlan& plan) {
          if (hooks.before_attempt) hooks.before_attempt(stage, step, plan);
          return attempt(plan);
        },
        on_switch);
  }

  GenerationResult finish() {
    result.final_plan = ladder.plan();
    result.downgrades = ladder.downgrades();
    result.exact = ladder.plan().exact() && !approximate;
    result.stage_memory = log.stages_json();
    return std::move(result);
  }
};

}  // namespace i2v::pipeline
