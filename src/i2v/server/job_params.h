// Reading a job's parameters from the JSON a client sent, with every range checked: a bad value
// is an ApiError(400) naming the parameter, its allowed range and what was sent.
#pragma once

#include <nlohmann/json.hpp>

#include "i2v/server/job.h"

namespace i2v::server {

struct ParamLimits {
  int min_frames = 8, max_frames = 32;
  int min_fps = 4, max_fps = 24;
  int min_steps = 1, max_steps = 150;
  double min_guidance = 1.0, max_guidance = 20.0;
  int min_side = 64, max_side = 1024;  // custom width/height, multiples of 8
  size_t max_prompt_chars = 2000;
};

// `j` is an object of parameters; keys outside the known set are refused (typos are caught).
// Absent keys take the defaults of JobParams; a seed of -1 (or none) is drawn here, so a job is
// reproducible from its record.
JobParams parse_job_params(const nlohmann::json& j, const ParamLimits& limits = {});

// The JSON description of the limits (for the page and the OpenAPI document).
nlohmann::json to_json(const ParamLimits& l);

}  // namespace i2v::server
