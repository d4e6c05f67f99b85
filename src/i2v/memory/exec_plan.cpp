#include "i2v/memory/exec_plan.h"

#include "i2v/error.h"

namespace i2v::memory {

std::string to_string(Residency r) {
  switch (r) {
    case Residency::OnDemand:
      return "on-demand";
    case Residency::StreamBlocks:
      return "stream";
    case Residency::Packed:
      return "packed";
    case Residency::Resident:
      break;
  }
  return "resident";
}

Residency parse_residency(const std::string& s) {
  if (s == "resident") return Residency::Resident;
  if (s == "on-demand" || s == "ondemand") return Residency::OnDemand;
  if (s == "stream" || s == "streaming") return Residency::StreamBlocks;
  if (s == "packed") return Residency::Packed;
  throw ConfigError("unknown weight residency '" + s +
                    "' (use resident, on-demand, stream or packed)");
}

nlohmann::json ExecPlan::to_json() const {
  return {{"name", name},
          {"frame_chunk", frame_chunk},
          {"temporal_chunk", temporal_chunk},
          {"attention_score_budget", attention_score_budget},
          {"sequential_cfg", sequential_cfg},
          {"vae_tile", vae_tile},
          {"vae_tile_overlap", vae_tile_overlap},
          {"exact", exact()},
          {"residency", to_string(residency)}};
}

ExecPlan ExecPlan::from_json(const nlohmann::json& j) {
  ExecPlan p;
  p.name = j.value("name", p.name);
  p.frame_chunk = j.value("frame_chunk", p.frame_chunk);
  p.temporal_chunk = j.value("temporal_chunk", p.temporal_chunk);
  p.attention_score_budget = j.value("attention_score_budget", p.attention_score_budget);
  p.sequential_cfg = j.value("sequential_cfg", p.sequential_cfg);
  p.vae_tile = j.value("vae_tile", p.vae_tile);
  p.vae_tile_overlap = j.value("vae_tile_overlap", p.vae_tile_overlap);
  p.residency = parse_residency(j.value("residency", std::string("resident")));
  return p;
}

at::Tensor map_rows(int64_t n, int64_t chunk,
                    const std::function<at::Tensor(int64_t, int64_t)>& fn) {
  if (chunk <= 0 || chunk >= n) return fn(0, n);
  std::vector<at::Tensor> parts;
  for (int64_t b = 0; b < n; b += chunk) parts.push_back(fn(b, std::min(n, b + chunk)));
  return at::cat(parts, 0);
}

}  // namespace i2v::memory
