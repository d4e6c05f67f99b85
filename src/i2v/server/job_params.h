// Reading a job's parameters from the JSON a client sent: types are checked here, ranges by the
// library's one range check (i2v::check_limits) with the server's narrower limits. A bad value is
// an ApiError(400) naming the parameter, its allowed range and what was sent.
#pragma once

#include <filesystem>

#include <nlohmann/json.hpp>

#include "i2v/i2v.h"
#include "i2v/server/job.h"

namespace i2v::server {

// The ranges the web page and API offer (narrower than the library's).
struct ParamLimits : Limits {
  ParamLimits() {
    min_frames = 8, max_frames = 128;  // beyond 16: frame windows
    min_fps = 4, max_fps = 24;
    min_steps = 1, max_steps = 150;
    min_guidance = 1.0, max_guidance = 20.0;
    min_side = 64, max_side = 1024;  // custom width/height, multiples of 8
    max_prompt_bytes = 2000;
  }
  int max_loras = 4;
  double min_lora_scale = -2.0, max_lora_scale = 2.0;
};

// `j` is an object of parameters; keys outside the known set are refused (typos are caught).
// Absent keys take the defaults of JobParams; a seed of -1 (or none) is drawn here (the library's
// seed rule), so a job is reproducible from its record.
JobParams parse_job_params(const nlohmann::json& j, const ParamLimits& limits = {});

// The library request for a job's parameters (the image is the caller's); LoRA names are files
// of `lora_dir`.
Request to_request(const JobParams& p, const std::filesystem::path& lora_dir = {});

// The LoRA files a server offers: *.safetensors directly in `dir` (sorted; empty when dir is empty
// or missing), each {"name", "bytes"}.
nlohmann::json list_loras(const std::filesystem::path& dir);

// The JSON description of the limits (for the page and the OpenAPI document).
nlohmann::json to_json(const ParamLimits& l);

}  // namespace i2v::server
