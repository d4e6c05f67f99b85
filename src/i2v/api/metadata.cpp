#include "i2v/api/metadata.h"

#include <ATen/Parallel.h>

#include "i2v/core/runtime.h"
#include "i2v/memory/memory_stats.h"

namespace i2v::api {

namespace {

// Each LoRA as the run used it, and how each adapted model applied them.
nlohmann::json loras_json(const RunRecord& run) {
  nlohmann::json list = nlohmann::json::array();
  if (!run.loras) return list;
  for (const auto& l : run.loras->loras)
    list.push_back({{"file", l.file},
                    {"path", l.path},
                    {"sha256", l.sha256},
                    {"scale", l.multiplier},
                    {"layout", l.layout},
                    {"modules", l.modules}});
  return list;
}

// The frame windows of a long video (null when the UNet saw every frame at once).
nlohmann::json windows_json(const RunRecord& run) {
  const pipeline::FrameWindows& w = run.windows;
  if (!w.approximate(run.request->frames)) return nullptr;
  return {{"length", w.length},
          {"stride", w.stride},
          {"fuse", pipeline::window_fuse_name(w.fuse)},
          {"shuffle_noise", w.shuffle_noise},
          {"count", pipeline::window_ranges(run.request->frames, w.length, w.stride).size()},
          {"exact", false},
          {"mode", "approximate (windows)"}};
}

}  // namespace

nlohmann::json metadata_json(const RunRecord& run) {
  const Request& r = *run.request;
  const pipeline::GenerationResult& res = *run.result;
  const memory::PlanChoice& choice = run.decision->choice;
  nlohmann::json downgrades = nlohmann::json::array();
  for (const auto& d : res.downgrades) downgrades.push_back(d.to_json());
  nlohmann::json ladder = nlohmann::json::array();
  for (const auto& p : choice.fallback) ladder.push_back(p.name);
  return {{"params",
           {{"prompt", r.prompt},
            {"negative_prompt", r.negative_prompt},
            {"width", r.width},
            {"height", r.height},
            {"frames", r.frames},
            {"fps", r.fps},
            {"steps", r.steps},
            {"guidance", r.guidance},
            {"seed", run.seed},
            {"decode_chunk_size", r.decode_chunk_size},
            {"plan", r.plan},
            {"window", r.window},
            {"window_stride", r.window_stride},
            {"window_fuse", r.window_fuse},
            {"shuffle_noise", r.shuffle_noise},
            {"lora_mode", r.lora_mode},
            {"noise_file", r.noise_file}}},
          {"model", run.model},
          {"precision", run.model.value("precision", "")},
          {"device", run.model.value("device", "")},
          {"exact", res.exact},
          {"windows", windows_json(run)},
          {"weights_8bit", run.model.value("weights_8bit", nlohmann::json::object())},
          {"loras", loras_json(run)},
          {"lora_modes", res.lora_modes},
          {"seconds", run.seconds},
          {"stage_seconds", res.stage_seconds},
          {"peak_rss_bytes", peak_rss_bytes()},
          {"memory",
           {{"plan", choice.plan.to_json()},
            {"fallback", ladder},
            {"final_plan", res.final_plan.to_json()},
            {"downgrades", downgrades},
            {"budget_bytes", run.decision->budget_bytes},
            {"budget_source", run.decision->budget_source},
            {"enforced", run.enforced},
            {"predicted_peak_bytes", choice.estimate.peak},
            {"peak_rss_bytes", memory::process_peak_rss_bytes()},
            {"stages", res.stage_memory},
            {"log", run.memory_log}}},
          {"threads", at::get_num_threads()},
          {"version", version_report()}};
}

}  // namespace i2v::api
