#include "i2v/weights/scheduler_config.h"

#include "i2v/error.h"
#include "i2v/weights/json_config.h"

namespace i2v::weights {

DDIMSchedulerConfig DDIMSchedulerConfig::parse(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw ConfigError(source + ": a scheduler config must be a JSON object");
  auto class_name = get_or<std::string>(j, "_class_name", "DDIMScheduler", source);
  if (class_name != "DDIMScheduler")
    throw ConfigError(source + ": scheduler class '" + class_name +
                      "' is not supported (only DDIMScheduler)");
  DDIMSchedulerConfig c;
  c.num_train_timesteps = get_or(j, "num_train_timesteps", c.num_train_timesteps, source);
  c.beta_start = get_or(j, "beta_start", c.beta_start, source);
  c.beta_end = get_or(j, "beta_end", c.beta_end, source);
  c.beta_schedule = get_or(j, "beta_schedule", c.beta_schedule, source);
  c.trained_betas = get_optional<std::vector<double>>(j, "trained_betas", source);
  c.clip_sample = get_or(j, "clip_sample", c.clip_sample, source);
  c.clip_sample_range = get_or(j, "clip_sample_range", c.clip_sample_range, source);
  c.set_alpha_to_one = get_or(j, "set_alpha_to_one", c.set_alpha_to_one, source);
  c.steps_offset = get_or(j, "steps_offset", c.steps_offset, source);
  c.prediction_type = get_or(j, "prediction_type", c.prediction_type, source);
  c.thresholding = get_or(j, "thresholding", c.thresholding, source);
  c.dynamic_thresholding_ratio =
      get_or(j, "dynamic_thresholding_ratio", c.dynamic_thresholding_ratio, source);
  c.sample_max_value = get_or(j, "sample_max_value", c.sample_max_value, source);
  c.timestep_spacing = get_or(j, "timestep_spacing", c.timestep_spacing, source);
  c.rescale_betas_zero_snr = get_or(j, "rescale_betas_zero_snr", c.rescale_betas_zero_snr, source);

  if (!c.trained_betas)
    check_one_of(c.beta_schedule, {"linear", "scaled_linear", "squaredcos_cap_v2"}, "beta_schedule",
                 source);
  check_one_of(c.prediction_type, {"epsilon", "sample", "v_prediction"}, "prediction_type", source);
  check_one_of(c.timestep_spacing, {"linspace", "leading", "trailing"}, "timestep_spacing", source);
  if (c.num_train_timesteps < 1)
    throw ConfigError(source + ": key 'num_train_timesteps' must be at least 1, got " +
                      std::to_string(c.num_train_timesteps));
  if (c.trained_betas && static_cast<int64_t>(c.trained_betas->size()) != c.num_train_timesteps)
    throw ConfigError(
        source + ": key 'trained_betas' has " + std::to_string(c.trained_betas->size()) +
        " values but num_train_timesteps is " + std::to_string(c.num_train_timesteps));
  if (c.steps_offset < 0) throw ConfigError(source + ": key 'steps_offset' must not be negative");
  return c;
}

DDIMSchedulerConfig DDIMSchedulerConfig::load(const std::filesystem::path& file) {
  return parse(read_json_file(file), file.string());
}

nlohmann::json DDIMSchedulerConfig::to_json() const {
  nlohmann::json j = {{"_class_name", "DDIMScheduler"},
                      {"num_train_timesteps", num_train_timesteps},
                      {"beta_start", beta_start},
                      {"beta_end", beta_end},
                      {"beta_schedule", beta_schedule},
                      {"trained_betas", nullptr},
                      {"clip_sample", clip_sample},
                      {"clip_sample_range", clip_sample_range},
                      {"set_alpha_to_one", set_alpha_to_one},
                      {"steps_offset", steps_offset},
                      {"prediction_type", prediction_type},
                      {"thresholding", thresholding},
                      {"dynamic_thresholding_ratio", dynamic_thresholding_ratio},
                      {"sample_max_value", sample_max_value},
                      {"timestep_spacing", timestep_spacing},
                      {"rescale_betas_zero_snr", rescale_betas_zero_snr}};
  if (trained_betas) j["trained_betas"] = *trained_betas;
  return j;
}

}  // namespace i2v::weights
