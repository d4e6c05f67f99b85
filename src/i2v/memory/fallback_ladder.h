// The fallback ladder: the plan a generation runs with and the cheaper plans after it. Every stage
// runs its work through run(): when an allocation fails (is_out_of_memory), the ladder moves to
// the next plan, lets the caller re-stage its weights, and redoes only that piece of work — the
// results of earlier steps and stages are kept. Anything else, and an allocation failure with no
// cheaper plan left, goes on to the caller.
#pragma once

#include <exception>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "i2v/memory/exec_plan.h"
#include "i2v/memory/memory_log.h"
#include "i2v/memory/out_of_memory.h"

namespace i2v::memory {

// One move down the ladder, as metadata and the memory log record it.
struct Downgrade {
  std::string stage;  // text, image, vae_encode, unet, vae_decode
  int step = 0;       // denoising step, or a decode chunk's first frame (1-based); 0 = whole stage
  std::string from, to, reason;
  nlohmann::json to_json() const;
};

class FallbackLadder {
 public:
  // `log` may be null.
  FallbackLadder(ExecPlan first, std::vector<ExecPlan> cheaper, MemoryLog* log = nullptr);

  const ExecPlan& plan() const { return plan_; }
  bool exhausted() const { return next_ >= cheaper_.size(); }
  const std::vector<Downgrade>& downgrades() const { return downgrades_; }

  // Called after the ladder moved from one plan to the next (before the work is redone).
  using Switch = std::function<void(const ExecPlan& from, const ExecPlan& to)>;

  template <class Attempt>
  auto run(const std::string& stage, int step, Attempt&& attempt, const Switch& on_switch = {})
      -> decltype(attempt(std::declval<const ExecPlan&>())) {
    for (;;) {
      try {
        return attempt(plan_);
      } catch (const std::exception& e) {
        if (!is_out_of_memory(e) || exhausted()) throw;
        descend(stage, step, e.what(), on_switch);
      }
    }
  }

  // Records a move that is not between plans (VAE decode's own rungs: smaller chunks, tiles).
  void record(Downgrade d);

 private:
  void descend(const std::string& stage, int step, const std::string& reason,
               const Switch& on_switch);

  ExecPlan plan_;
  std::vector<ExecPlan> cheaper_;
  size_t next_ = 0;
  MemoryLog* log_;
  std::vector<Downgrade> downgrades_;
};

}  // namespace i2v::memory
