#include "i2v/memory/planner.h"

#include <fstream>
#include <sstream>

#include "i2v/error.h"
#include "i2v/memory/memory_stats.h"

namespace i2v::memory {

std::vector<ExecPlan> standard_plans() {
  ExecPlan packed;
  packed.name = "packed";
  packed.residency = Residency::Packed;
  ExecPlan plain;
  ExecPlan chunked;
  chunked.name = "chunked";
  chunked.frame_chunk = 2;
  chunked.temporal_chunk = 512;
  chunked.attention_score_budget = int64_t{1} << 20;
  ExecPlan seq = chunked;
  seq.name = "chunked+seqcfg";
  seq.sequential_cfg = true;
  ExecPlan stream = seq;
  stream.name = "stream";
  stream.frame_chunk = 1;
  stream.residency = Residency::StreamBlocks;
  return {packed, plain, chunked, seq, stream};
}

ExecPlan named_plan(const std::string& name) {
  std::string names;
  for (const auto& p : standard_plans()) {
    if (p.name == name) return p;
    names += (names.empty() ? "" : ", ") + p.name;
  }
  throw ConfigError("unknown plan '" + name + "' (use auto or one of " + names + ")");
}

// The packed plan's first step packs the UNet's weights into fresh memory: on the 2-vCPU Xeon VM
// (real architecture, bf16, 256x256x8) that step took 7.5-8.7 s against 5.2-5.6 s plain, each
// later one 0.6-0.8 s less than plain (4.2-4.4 against 5.0), so packing pays from about 4 steps.
// A Generator that keeps the copies shares them with its later generations
// (Shapes::packing_reused): then it pays at any step count from the second generation on.
constexpr int64_t kPackedMinSteps = 8;

double relative_speed(const ExecPlan& p) {
  // Time of the plain plan over this plan's: one back-to-back `bench/memory.sh` sequence on the
  // idle machine, real architecture, 256x256x8, 2 steps, bf16, 2 cores, s/step: plain 19.8,
  // chunked 22.9, chunked+seqcfg 21.5, stream 24.2. With the fused kernels chunking costs time
  // (before them the chunked plans were the faster ones: cache-sized chunks). Sequential CFG
  // (two batch-1 passes, frame chunks of 1) beats chunked here, so chunked is chosen only where
  // it fits and sequential CFG does not (never, with these estimates): it stays for the ladder.
  if (p.residency == Residency::StreamBlocks) return 0.82;
  if (p.residency == Residency::Packed) return 1.08;
  if (p.sequential_cfg) return 0.92;
  if (p.frame_chunk > 0 || p.temporal_chunk > 0) return 0.86;
  return 1.0;
}

std::vector<PlanCandidate> candidates(const ModelFacts& m, const Shapes& s) {
  std::vector<PlanCandidate> out;
  for (auto p : standard_plans()) {
    // Packing helps only the bf16 oneDNN kernels on a CPU, and only weights used as stored (not
    // cast per block, not 8-bit): elsewhere it would be the plain plan under another name.
    if (p.residency == Residency::Packed &&
        (s.gpu || s.element_bytes != 2 || m.unet_staged_block_bytes > 0 ||
         m.weights_8bit.count("unet") > 0 ||
         (s.steps > 0 && s.steps < kPackedMinSteps && !s.packing_reused)))
      continue;
    if (s.gpu && p.residency == Residency::Resident && p.name != "plain") {
      p.residency = Residency::OnDemand;  // on a GPU the chunked plans also keep one model in
    }
    out.push_back({p, relative_speed(p), estimate(m, s, p)});
    if (s.gpu && p.name == "plain") {
      // Between all models resident and the chunked plans: each model on the device only while
      // it runs (its copy-in per generation costs little next to the denoising; not measured).
      ExecPlan on_demand = p;
      on_demand.name = "plain+on-demand";
      on_demand.residency = Residency::OnDemand;
      out.push_back({on_demand, 0.97, estimate(m, s, on_demand)});
    }
  }
  return out;
}

PlanChoice plan_for(const ModelFacts& m, const Shapes& s, int64_t budget, double margin) {
  PlanChoice c;
  c.candidates = candidates(m, s);
  const int64_t usable =
      budget > 0 ? static_cast<int64_t>(static_cast<double>(budget) * (1.0 - margin)) : 0;
  // The fastest candidate that fits (candidates are in order of decreasing memory).
  size_t best = c.candidates.size();
  for (size_t i = 0; i < c.candidates.size(); ++i) {
    if (budget > 0 && c.candidates[i].estimate.peak > usable) continue;
    if (best == c.candidates.size() ||
        c.candidates[i].relative_speed > c.candidates[best].relative_speed)
      best = i;
  }
  if (best < c.candidates.size()) {
    const size_t i = best;
    {
      c.fits = true;
      c.plan = c.candidates[i].plan;
      c.estimate = c.candidates[i].estimate;
      for (size_t j = i + 1; j < c.candidates.size(); ++j)
        c.fallback.push_back(c.candidates[j].plan);
      c.message = "plan '" + c.plan.name + "' (predicted peak " + format_bytes(c.estimate.peak) +
                  (budget > 0 ? " of " + format_bytes(usable) + " usable" : std::string()) + ")";
      return c;
    }
  }
  c.plan = c.candidates.back().plan;
  c.estimate = c.candidates.back().estimate;
  // The smallest settings that would fit: fewer frames, else a smaller size, with the cheapest
  // plan.
  std::ostringstream msg;
  msg << "no plan fits " << format_bytes(usable) << ": the cheapest ('" << c.plan.name
      << "') needs about " << format_bytes(c.estimate.peak) << " at " << s.width << "x" << s.height
      << " with " << s.frames << " frames.";
  std::vector<std::string> fits;
  for (int64_t f = s.frames - 1; f >= 2; --f) {
    Shapes t = s;
    t.frames = f;
    if (estimate(m, t, c.plan).peak <= usable) {
      fits.push_back("--frames " + std::to_string(f) + " at " + std::to_string(s.width) + "x" +
                     std::to_string(s.height));
      break;
    }
  }
  for (int64_t k = 1; k < 64; ++k) {
    Shapes t = s;
    t.width = std::max<int64_t>(64, (s.width * (64 - k) / 64) / 64 * 64);
    t.height = std::max<int64_t>(64, (s.height * (64 - k) / 64) / 64 * 64);
    if (estimate(m, t, c.plan).peak <= usable) {
      fits.push_back("--width " + std::to_string(t.width) + " --height " +
                     std::to_string(t.height) + " with " + std::to_string(s.frames) + " frames");
      break;
    }
    if (t.width == 64 && t.height == 64) break;
  }
  if (fits.empty()) {
    Shapes tiny = s;
    tiny.width = tiny.height = 64;
    tiny.frames = 2;
    msg << " Even 64x64 with 2 frames needs about " << format_bytes(estimate(m, tiny, c.plan).peak)
        << " (the largest component's weights stay resident while it runs).";
  } else {
    msg << " Would fit with plan '" << c.plan.name << "': ";
    for (size_t i = 0; i < fits.size(); ++i) msg << (i ? ", or " : "") << fits[i];
    msg << ".";
  }
  c.message = msg.str();
  return c;
}

std::vector<TierResult> tiers(const ModelFacts& m, const Shapes& base,
                              const std::vector<int64_t>& budgets) {
  std::vector<TierResult> out;
  for (int64_t budget : budgets) {
    TierResult best;
    best.budget = budget;
    int64_t best_score = 0;
    for (int64_t size = 256; size <= 2048; size += 64) {
      for (int64_t frames : {8, 16, 24, 32}) {
        Shapes s = base;
        s.width = s.height = size;
        s.frames = frames;
        PlanChoice c = plan_for(m, s, budget);
        if (!c.fits) continue;
        const int64_t score = size * size * frames;
        if (score > best_score) {
          best_score = score;
          best.any = true;
          best.shapes = s;
          best.plan = c.plan;
          best.predicted = c.estimate.peak;
        }
      }
    }
    out.push_back(best);
  }
  return out;
}

int64_t meminfo_bytes(const std::string& key) {
  std::ifstream in("/proc/meminfo");
  std::string name, unit;
  int64_t kib = 0;
  while (in >> name >> kib >> unit) {
    if (name == key + ":") return kib * 1024;
  }
  return 0;
}

int64_t available_memory_bytes() {
  return meminfo_bytes("MemAvailable");
}

}  // namespace i2v::memory
