#include "i2v/train/diffusion_objective.h"

#include <cmath>

#include "i2v/error.h"

namespace i2v::train {

DiffusionObjective::DiffusionObjective(at::Tensor alphas_cumprod, std::string prediction_type)
    : alphas_cumprod_(alphas_cumprod.to(at::kFloat).contiguous()),
      prediction_type_(std::move(prediction_type)) {
  if (prediction_type_ != "v_prediction" && prediction_type_ != "epsilon" &&
      prediction_type_ != "sample")
    throw ConfigError("scheduler prediction_type '" + prediction_type_ +
                      "' cannot be trained (v_prediction, epsilon, sample)");
  if (alphas_cumprod_.dim() != 1 || alphas_cumprod_.size(0) < 1)
    throw ConfigError("the scheduler has no training timesteps");
}

NoisedSample DiffusionObjective::noise(const at::Tensor& x0, const at::Tensor& noise,
                                       int64_t t) const {
  if (t < 0 || t >= num_train_timesteps())
    throw ConfigError("training timestep " + std::to_string(t) + " outside [0, " +
                      std::to_string(num_train_timesteps()) + ")");
  if (x0.sizes() != noise.sizes()) throw ShapeError("noise must have the latents' shape");
  const double a = alphas_cumprod_[t].item<double>();
  const double sa = std::sqrt(a), sb = std::sqrt(1 - a);
  const at::Tensor x = x0.to(at::kFloat), n = noise.to(at::kFloat);
  NoisedSample s;
  s.noisy = x * sa + n * sb;
  s.target = prediction_type_ == "v_prediction" ? n * sa - x * sb
             : prediction_type_ == "epsilon"    ? n
                                                : x;
  return s;
}

}  // namespace i2v::train
