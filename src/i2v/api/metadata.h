// The one metadata record of a generation (what save_video writes beside the video as
// <video>.json, and the server beside each job's video): every parameter with the seed used, the
// model, precision and device, the plan and its ladder, timings, memory, versions.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "i2v/api/plan_policy.h"
#include "i2v/i2v.h"
#include "i2v/lora/adapter_set.h"
#include "i2v/pipeline/request.h"

namespace i2v::api {

struct RunRecord {
  const Request* request = nullptr;
  int64_t seed = 0;
  nlohmann::json model;  // Generator::describe_json
  const PlanDecision* decision = nullptr;
  const pipeline::GenerationResult* result = nullptr;
  bool enforced = false;
  double seconds = 0;  // the whole generate call
  std::string memory_log;
  const lora::AdapterSet* loras = nullptr;  // null: none
  pipeline::FrameWindows windows;           // as the pipeline ran them
};

nlohmann::json metadata_json(const RunRecord& run);

}  // namespace i2v::api
