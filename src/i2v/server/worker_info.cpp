#include "i2v/server/worker_info.h"

#include <algorithm>
#include <filesystem>

#include "i2v/api/plan_policy.h"

namespace i2v::server {

std::string model_name_of(const nlohmann::json& description) {
  std::string d = description.value("model", "");
  d = d.substr(0, d.find(" ("));  // "org/name (cache ...)" -> "org/name"
  while (!d.empty() && d.back() == '/') d.pop_back();
  return std::filesystem::path(d).filename().string();
}

WorkerInfo local_worker_info(const VideoGenerator& generator, const std::string& model_name) {
  const nlohmann::json d = generator.describe();
  WorkerInfo w;
  w.id = new_worker_id();
  w.host = host_name();
  w.model = model_name.empty() ? model_name_of(d) : model_name;
  w.device = d.value("device", "cpu");
  w.memory_budget_bytes = api::detected_budget_bytes(w.device.rfind("cuda", 0) == 0);
  return w;
}

JobNeeds job_needs(const VideoGenerator& generator, const Request& request,
                   const std::string& model_name) {
  JobNeeds n;
  n.model = model_name;
  const Estimate e = generator.estimate(request);
  n.memory_bytes = e.predicted_peak_bytes;
  const nlohmann::json j = nlohmann::json::parse(e.json, nullptr, false);
  if (j.is_object() && j.contains("candidates") && j["candidates"].is_array()) {
    for (const auto& c : j["candidates"]) {
      if (c.contains("predicted_peak_bytes") && c["predicted_peak_bytes"].is_number())
        n.memory_bytes = std::min(n.memory_bytes, c["predicted_peak_bytes"].get<int64_t>());
    }
  }
  return n;
}

}  // namespace i2v::server
