// DDIMScheduler's configuration (scheduler/scheduler_config.json) with diffusers 0.31's defaults
// for every key a file leaves out.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace i2v::weights {

struct DDIMSchedulerConfig {
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  std::string beta_schedule = "linear";              // linear | scaled_linear | squaredcos_cap_v2
  std::optional<std::vector<double>> trained_betas;  // overrides beta_schedule when given
  bool clip_sample = true;
  double clip_sample_range = 1.0;
  bool set_alpha_to_one = true;
  int64_t steps_offset = 0;
  std::string prediction_type = "epsilon";  // epsilon | sample | v_prediction
  bool thresholding = false;
  double dynamic_thresholding_ratio = 0.995;
  double sample_max_value = 1.0;
  std::string timestep_spacing = "leading";  // linspace | leading | trailing
  bool rescale_betas_zero_snr = false;

  // Reads the keys above (absent or null -> default), checks enum values and ranges; throws
  // ConfigError naming `source` and the key. A "_class_name" other than DDIMScheduler is an error
  // (other schedulers have other semantics).
  static DDIMSchedulerConfig parse(const nlohmann::json& j, const std::string& source);
  static DDIMSchedulerConfig load(const std::filesystem::path& file);
  nlohmann::json to_json() const;
};

}  // namespace i2v::weights
