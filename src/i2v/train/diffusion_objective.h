// The denoising objective the model was trained with, from its scheduler config: a clean latent
// x0 noised to timestep t (x_t = sqrt(a_t)·x0 + sqrt(1-a_t)·noise, a_t = alphas_cumprod[t]) and
// the target the UNet must predict — v = sqrt(a_t)·noise - sqrt(1-a_t)·x0 for "v_prediction"
// (I2VGen-XL; diffusers' get_velocity), the noise for "epsilon", x0 for "sample". Float32.
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace i2v::train {

struct NoisedSample {
  at::Tensor noisy;   // x_t
  at::Tensor target;  // what the UNet should predict at t
};

class DiffusionObjective {
 public:
  // ConfigError for an unknown prediction type or an empty schedule.
  DiffusionObjective(at::Tensor alphas_cumprod, std::string prediction_type);

  NoisedSample noise(const at::Tensor& x0, const at::Tensor& noise, int64_t timestep) const;
  int64_t num_train_timesteps() const { return alphas_cumprod_.size(0); }
  const std::string& prediction_type() const { return prediction_type_; }

 private:
  at::Tensor alphas_cumprod_;  // (T,) float32
  std::string prediction_type_;
};

}  // namespace i2v::train
