// A generation job as the server keeps it: what was asked, where it stands, what it produced.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace i2v::server {

enum class JobStatus { Queued, Running, Finished, Failed, Cancelled };

std::string to_string(JobStatus s);
std::optional<JobStatus> parse_job_status(const std::string& s);
bool is_terminal(JobStatus s);  // finished, failed or cancelled

// A LoRA chosen for a job: a file name in the server's --lora-dir (never a path) and its scale.
struct JobLora {
  std::string name;
  double scale = 1.0;
};

// The user's parameters, validated (see job_params.h); the seed is always concrete.
struct JobParams {
  std::string prompt, negative_prompt;
  std::string resolution = "512p";  // 256p/512p/768p/1024p, or "custom" with width x height
  int width = 512, height = 512;
  int frames = 16, fps = 8, steps = 50;
  double guidance = 9.0;
  int64_t seed = 0;
  std::vector<JobLora> loras;
  // Frame windows for long videos (i2v::Request's window, window_stride, window_fuse).
  int window = -1, window_stride = 4;
  std::string window_fuse = "pyramid";
};

nlohmann::json to_json(const JobParams& p);
// The stored form back (fields absent in jobs of older versions take their defaults).
JobParams job_params_from_json(const nlohmann::json& j);

struct Job {
  int64_t id = 0;
  JobStatus status = JobStatus::Queued;
  JobParams params;
  std::string image_name;    // the upload's file name (informational only, never a path)
  std::string image_format;  // detected from the content: png, jpeg, webp, bmp
  double created_at = 0, started_at = 0, finished_at = 0;  // Unix seconds; 0 = not yet
  int attempts = 0;     // times started; > 1 after an interruption
  int interrupted = 0;  // times the server died (or stopped) while it ran
  int step = 0, total_steps = 0;
  std::string worker;                                // the worker running it (or that ran it last)
  std::string error;                                 // why it failed
  nlohmann::json result = nlohmann::json::object();  // output file names, timings, memory
};

// The API's view of a job, with URLs of its outputs (prefixed by /outputs/).
nlohmann::json to_json(const Job& j);

}  // namespace i2v::server
