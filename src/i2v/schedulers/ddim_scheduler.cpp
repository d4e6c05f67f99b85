#include "i2v/schedulers/ddim_scheduler.h"

#include <cmath>

#include "i2v/error.h"

namespace i2v::schedulers {
namespace {

at::Tensor scalar_f32(double v) {
  return at::scalar_tensor(v, at::kFloat);
}

}  // namespace

at::Tensor DDIMScheduler::betas_for_alpha_bar(int64_t n, double max_beta) {
  // Python floats (double) throughout, converted to float32 at the end, as the reference does.
  auto alpha_bar = [](double t) {
    double c = std::cos((t + 0.008) / 1.008 * M_PI / 2.0);
    return c * c;
  };
  std::vector<float> betas(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    double t1 = static_cast<double>(i) / n;
    double t2 = static_cast<double>(i + 1) / n;
    betas[static_cast<size_t>(i)] =
        static_cast<float>(std::min(1.0 - alpha_bar(t2) / alpha_bar(t1), max_beta));
  }
  return at::tensor(betas, at::kFloat);
}

at::Tensor DDIMScheduler::rescale_zero_terminal_snr(const at::Tensor& betas) {
  at::Tensor alphas = 1.0 - betas;
  at::Tensor alphas_bar_sqrt = at::cumprod(alphas, 0).sqrt();
  at::Tensor sqrt_0 = alphas_bar_sqrt[0].clone();
  at::Tensor sqrt_T = alphas_bar_sqrt[-1].clone();
  alphas_bar_sqrt = alphas_bar_sqrt - sqrt_T;
  alphas_bar_sqrt = alphas_bar_sqrt * (sqrt_0 / (sqrt_0 - sqrt_T));
  at::Tensor alphas_bar = alphas_bar_sqrt.pow(2);
  int64_t n = alphas_bar.size(0);
  at::Tensor ratios = alphas_bar.slice(0, 1, n) / alphas_bar.slice(0, 0, n - 1);
  return 1.0 - at::cat({alphas_bar.slice(0, 0, 1), ratios});
}

DDIMScheduler::DDIMScheduler(weights::DDIMSchedulerConfig config) : config_(std::move(config)) {
  const int64_t n = config_.num_train_timesteps;
  if (n < 2) throw ConfigError("scheduler num_train_timesteps must be at least 2");
  if (config_.trained_betas) {
    betas_ = at::tensor(*config_.trained_betas, at::kDouble).to(at::kFloat);
    if (betas_.size(0) != n) {
      throw ConfigError("scheduler trained_betas has " + std::to_string(betas_.size(0)) +
                        " values but num_train_timesteps is " + std::to_string(n));
    }
  } else if (config_.beta_schedule == "linear") {
    betas_ = at::linspace(config_.beta_start, config_.beta_end, n, at::kFloat);
  } else if (config_.beta_schedule == "scaled_linear") {
    betas_ = at::linspace(std::sqrt(config_.beta_start), std::sqrt(config_.beta_end), n, at::kFloat)
                 .pow(2);
  } else if (config_.beta_schedule == "squaredcos_cap_v2") {
    betas_ = betas_for_alpha_bar(n);
  } else {
    throw ConfigError("unsupported scheduler beta_schedule '" + config_.beta_schedule + "'");
  }
  if (config_.rescale_betas_zero_snr) betas_ = rescale_zero_terminal_snr(betas_);
  alphas_ = 1.0 - betas_;
  alphas_cumprod_ = at::cumprod(alphas_, 0);
  final_alpha_cumprod_ = config_.set_alpha_to_one ? scalar_f32(1.0) : alphas_cumprod_[0].clone();
  set_timesteps(std::min<int64_t>(n, 50));  // a usable default; callers set their own
}

void DDIMScheduler::set_timesteps(int64_t steps) {
  const int64_t n = config_.num_train_timesteps;
  if (steps < 1 || steps > n) {
    throw ConfigError("number of inference steps must be between 1 and " + std::to_string(n) +
                      " (the scheduler's num_train_timesteps), got " + std::to_string(steps));
  }
  num_inference_steps_ = steps;
  timesteps_.assign(static_cast<size_t>(steps), 0);
  const std::string& spacing = config_.timestep_spacing;
  if (spacing == "linspace") {
    // np.linspace(0, n - 1, steps).round()[::-1]; numpy rounds half to even.
    for (int64_t i = 0; i < steps; ++i) {
      double v = steps == 1 ? 0.0 : static_cast<double>(n - 1) * i / (steps - 1);
      if (steps > 1 && i == steps - 1) v = static_cast<double>(n - 1);
      timesteps_[static_cast<size_t>(steps - 1 - i)] = static_cast<int64_t>(std::nearbyint(v));
    }
  } else if (spacing == "leading") {
    const int64_t ratio = n / steps;
    for (int64_t i = 0; i < steps; ++i) {
      timesteps_[static_cast<size_t>(steps - 1 - i)] = i * ratio + config_.steps_offset;
    }
  } else if (spacing == "trailing") {
    // np.round(np.arange(n, 0, -n / steps)) - 1
    const double ratio = static_cast<double>(n) / steps;
    std::vector<int64_t> ts;
    for (int64_t i = 0;; ++i) {
      double v = n - i * ratio;
      if (v <= 0) break;
      ts.push_back(static_cast<int64_t>(std::nearbyint(v)) - 1);
    }
    timesteps_ = ts;
  } else {
    throw ConfigError("unsupported scheduler timestep_spacing '" + spacing + "'");
  }
}

at::Tensor DDIMScheduler::threshold_sample(const at::Tensor& sample) const {
  // Dynamic thresholding (Imagen): per-sample quantile of |x|, clamped to [1, sample_max_value].
  at::ScalarType dtype = sample.scalar_type();
  at::Tensor x = sample;
  if (dtype != at::kFloat && dtype != at::kDouble) x = x.to(at::kFloat);
  auto shape = x.sizes().vec();
  x = x.reshape({shape[0], -1});
  at::Tensor s = at::quantile(x.abs(), config_.dynamic_thresholding_ratio, 1);
  s = s.clamp(1.0, config_.sample_max_value).unsqueeze(1);
  x = at::max(at::min(x, s), -s) / s;
  return x.reshape(shape).to(dtype);
}

DDIMStepOutput DDIMScheduler::step(const at::Tensor& model_output, int64_t timestep,
                                   const at::Tensor& sample, double eta,
                                   bool use_clipped_model_output,
                                   const std::optional<at::Tensor>& variance_noise) const {
  const int64_t n = config_.num_train_timesteps;
  if (timestep < 0 || timestep >= n) {
    throw ConfigError("scheduler timestep " + std::to_string(timestep) + " is outside [0, " +
                      std::to_string(n) + ")");
  }
  if (model_output.sizes() != sample.sizes()) {
    throw ShapeError("scheduler step: model output and sample shapes differ");
  }
  const int64_t prev_timestep = timestep - n / num_inference_steps_;
  at::Tensor alpha_prod_t = alphas_cumprod_[timestep];
  at::Tensor alpha_prod_t_prev =
      prev_timestep >= 0 ? alphas_cumprod_[prev_timestep] : final_alpha_cumprod_;
  at::Tensor beta_prod_t = 1 - alpha_prod_t;

  at::Tensor pred_original_sample, pred_epsilon;
  const std::string& type = config_.prediction_type;
  if (type == "epsilon") {
    pred_original_sample = (sample - beta_prod_t.pow(0.5) * model_output) / alpha_prod_t.pow(0.5);
    pred_epsilon = model_output;
  } else if (type == "sample") {
    pred_original_sample = model_output;
    pred_epsilon = (sample - alpha_prod_t.pow(0.5) * pred_original_sample) / beta_prod_t.pow(0.5);
  } else if (type == "v_prediction") {
    pred_original_sample = alpha_prod_t.pow(0.5) * sample - beta_prod_t.pow(0.5) * model_output;
    pred_epsilon = alpha_prod_t.pow(0.5) * model_output + beta_prod_t.pow(0.5) * sample;
  } else {
    throw ConfigError("unsupported scheduler prediction_type '" + type + "'");
  }

  if (config_.thresholding) {
    pred_original_sample = threshold_sample(pred_original_sample);
  } else if (config_.clip_sample) {
    pred_original_sample =
        pred_original_sample.clamp(-config_.clip_sample_range, config_.clip_sample_range);
  }

  at::Tensor beta_prod_t_prev = 1 - alpha_prod_t_prev;
  at::Tensor variance = (beta_prod_t_prev / beta_prod_t) * (1 - alpha_prod_t / alpha_prod_t_prev);
  at::Tensor std_dev_t = eta * variance.pow(0.5);

  if (use_clipped_model_output) {
    pred_epsilon = (sample - alpha_prod_t.pow(0.5) * pred_original_sample) / beta_prod_t.pow(0.5);
  }
  at::Tensor direction = (1 - alpha_prod_t_prev - std_dev_t.pow(2)).pow(0.5) * pred_epsilon;
  at::Tensor prev_sample = alpha_prod_t_prev.pow(0.5) * pred_original_sample + direction;

  if (eta > 0) {
    if (!variance_noise || variance_noise->sizes() != sample.sizes()) {
      throw ConfigError("scheduler step with eta > 0 needs variance noise of the sample's shape");
    }
    prev_sample = prev_sample + std_dev_t * *variance_noise;
  }
  return {prev_sample, pred_original_sample};
}

}  // namespace i2v::schedulers
