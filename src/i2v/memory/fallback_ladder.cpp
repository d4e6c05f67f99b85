#include "i2v/memory/fallback_ladder.h"

#include <spdlog/spdlog.h>

#include "i2v/memory/mapped_weights.h"

namespace i2v::memory {

nlohmann::json Downgrade::to_json() const {
  return {{"stage", stage}, {"step", step}, {"from", from}, {"to", to}, {"reason", reason}};
}

FallbackLadder::FallbackLadder(ExecPlan first, std::vector<ExecPlan> cheaper, MemoryLog* log)
    : plan_(std::move(first)), cheaper_(std::move(cheaper)), log_(log) {}

void FallbackLadder::record(Downgrade d) {
  spdlog::warn("[Memory] {}{}: allocation failed under '{}' ({}); redoing it with '{}'", d.stage,
               d.step > 0 ? " " + std::to_string(d.step) : std::string(), d.from, d.reason, d.to);
  if (log_) log_->event("downgrade", d.to_json());
  downgrades_.push_back(std::move(d));
}

void FallbackLadder::descend(const std::string& stage, int step, const std::string& reason,
                             const Switch& on_switch) {
  const ExecPlan from = plan_;
  plan_ = cheaper_[next_++];
  record({stage, step, from.name, plan_.name, reason});
  if (on_switch) on_switch(from, plan_);
  trim_heap();
}

}  // namespace i2v::memory
