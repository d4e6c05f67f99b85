#include "i2v/server/job.h"

namespace i2v::server {

std::string to_string(JobStatus s) {
  switch (s) {
    case JobStatus::Queued:
      return "queued";
    case JobStatus::Running:
      return "running";
    case JobStatus::Finished:
      return "finished";
    case JobStatus::Failed:
      return "failed";
    case JobStatus::Cancelled:
      return "cancelled";
  }
  return "unknown";
}

std::optional<JobStatus> parse_job_status(const std::string& s) {
  for (JobStatus v : {JobStatus::Queued, JobStatus::Running, JobStatus::Finished, JobStatus::Failed,
                      JobStatus::Cancelled}) {
    if (to_string(v) == s) return v;
  }
  return std::nullopt;
}

bool is_terminal(JobStatus s) {
  return s == JobStatus::Finished || s == JobStatus::Failed || s == JobStatus::Cancelled;
}

static nlohmann::json loras_json(const std::vector<JobLora>& loras) {
  nlohmann::json list = nlohmann::json::array();
  for (const JobLora& l : loras) list.push_back({{"name", l.name}, {"scale", l.scale}});
  return list;
}

nlohmann::json to_json(const JobParams& p) {
  return {{"prompt", p.prompt},
          {"negative_prompt", p.negative_prompt},
          {"resolution", p.resolution},
          {"width", p.width},
          {"height", p.height},
          {"frames", p.frames},
          {"fps", p.fps},
          {"steps", p.steps},
          {"guidance", p.guidance},
          {"seed", p.seed},
          {"loras", loras_json(p.loras)},
          {"window", p.window},
          {"window_stride", p.window_stride},
          {"window_fuse", p.window_fuse}};
}

JobParams job_params_from_json(const nlohmann::json& j) {
  JobParams p;
  if (!j.is_object()) return p;
  p.prompt = j.value("prompt", "");
  p.negative_prompt = j.value("negative_prompt", "");
  p.resolution = j.value("resolution", "512p");
  p.width = j.value("width", 512);
  p.height = j.value("height", 512);
  p.frames = j.value("frames", 16);
  p.fps = j.value("fps", 8);
  p.steps = j.value("steps", 50);
  p.guidance = j.value("guidance", 9.0);
  p.seed = j.value("seed", int64_t{0});
  p.window = j.value("window", -1);
  p.window_stride = j.value("window_stride", 4);
  p.window_fuse = j.value("window_fuse", "pyramid");
  if (j.contains("loras") && j["loras"].is_array())
    for (const auto& l : j["loras"])
      p.loras.push_back({l.value("name", ""), l.value("scale", 1.0)});
  return p;
}

nlohmann::json to_json(const Job& j) {
  nlohmann::json out = {{"id", j.id},
                        {"status", to_string(j.status)},
                        {"params", to_json(j.params)},
                        {"image_name", j.image_name},
                        {"image_format", j.image_format},
                        {"image_url", "/api/jobs/" + std::to_string(j.id) + "/image"},
                        {"events_url", "/api/jobs/" + std::to_string(j.id) + "/events"},
                        {"created_at", j.created_at},
                        {"started_at", j.started_at},
                        {"finished_at", j.finished_at},
                        {"attempts", j.attempts},
                        {"interrupted", j.interrupted},
                        {"step", j.step},
                        {"total_steps", j.total_steps},
                        {"error", j.error},
                        {"worker", j.worker},
                        {"result", j.result}};
  nlohmann::json urls = nlohmann::json::object();
  for (const char* key : {"video", "metadata", "thumbnail"}) {
    if (j.result.contains(key) && j.result[key].is_string()) {
      urls[key] = "/outputs/" + j.result[key].get<std::string>();
    }
  }
  out["urls"] = urls;
  return out;
}

}  // namespace i2v::server
