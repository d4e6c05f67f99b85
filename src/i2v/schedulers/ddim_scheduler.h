// DDIMScheduler as diffusers 0.31 computes it: the training noise schedule, inference timesteps
// and the deterministic (eta = 0) or stochastic update. Every table is float32 and every update
// follows the reference's operation order, so results match it to float32 rounding.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <vector>

#include "i2v/weights/scheduler_config.h"

namespace i2v::schedulers {

struct DDIMStepOutput {
  at::Tensor prev_sample;           // x_{t-1}
  at::Tensor pred_original_sample;  // x_0 prediction
};

class DDIMScheduler {
 public:
  explicit DDIMScheduler(weights::DDIMSchedulerConfig config);

  const weights::DDIMSchedulerConfig& config() const { return config_; }
  const at::Tensor& betas() const { return betas_; }                              // (T,) float32
  const at::Tensor& alphas_cumprod() const { return alphas_cumprod_; }            // (T,) float32
  const at::Tensor& final_alpha_cumprod() const { return final_alpha_cumprod_; }  // () float32
  double init_noise_sigma() const { return 1.0; }

  // Chooses `num_inference_steps` timesteps (descending) by the config's timestep_spacing.
  // Throws ConfigError if the count is < 1 or larger than num_train_timesteps.
  void set_timesteps(int64_t num_inference_steps);
  const std::vector<int64_t>& timesteps() const { return timesteps_; }
  int64_t num_inference_steps() const { return num_inference_steps_; }

  // One update from timestep t. `variance_noise` is required when eta > 0 (same shape as sample).
  DDIMStepOutput step(const at::Tensor& model_output, int64_t timestep, const at::Tensor& sample,
                      double eta = 0.0, bool use_clipped_model_output = false,
                      const std::optional<at::Tensor>& variance_noise = std::nullopt) const;

  // The raw squaredcos_cap_v2 betas ("betas_for_alpha_bar", cosine), before any rescaling.
  static at::Tensor betas_for_alpha_bar(int64_t num_train_timesteps, double max_beta = 0.999);
  // Rescales betas to zero terminal SNR (Lin et al. 2023, Algorithm 1).
  static at::Tensor rescale_zero_terminal_snr(const at::Tensor& betas);

 private:
  at::Tensor threshold_sample(const at::Tensor& sample) const;

  weights::DDIMSchedulerConfig config_;
  at::Tensor betas_, alphas_, alphas_cumprod_, final_alpha_cumprod_;
  std::vector<int64_t> timesteps_;
  int64_t num_inference_steps_ = 0;
};

}  // namespace i2v::schedulers
