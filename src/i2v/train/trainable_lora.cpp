#include "i2v/train/trainable_lora.h"

#include <torch/autograd.h>

#include <cmath>

#include "i2v/error.h"
#include "i2v/lora/adapter_set.h"
#include "i2v/lora/trainable_adapters.h"
#include "i2v/nn/checkpoint.h"

namespace i2v::train {
namespace {

bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

}  // namespace

TrainableLora::TrainableLora(unet::I2VGenXLUNet unet, const std::vector<std::string>& targets,
                             int64_t rank, double alpha, uint64_t seed, at::ScalarType dtype)
    : unet_(std::move(unet)), dtype_(dtype), rank_(rank), alpha_(alpha) {
  if (rank < 1 || rank > 1024) throw ConfigError("--rank must be between 1 and 1024");
  if (!(alpha > 0) || !std::isfinite(alpha)) throw ConfigError("--alpha must be positive");
  if (targets.empty()) throw ConfigError("--targets names no layer");
  for (auto& p : unet_->parameters()) p.requires_grad_(false);  // the base stays frozen
  at::Generator gen = at::detail::createCPUGenerator(seed);
  auto named = unet_->named_parameters(true);
  std::map<std::string, int> matched;  // target -> linear layers it matched
  for (const auto& t : targets) matched[t] = 0;
  for (const auto& [name, shape] : lora::adaptable_weights(*unet_)) {
    const std::string module = name.substr(0, name.size() - 7);  // without ".weight"
    bool wanted = false;
    for (const auto& t : targets) {
      if (ends_with(module, "." + t) && shape.size() == 2) {
        wanted = true;
        ++matched[t];
      }
    }
    if (!wanted) continue;
    lora::TrainableAdapter a;
    const double bound = 1.0 / std::sqrt(static_cast<double>(shape[1]));  // kaiming_uniform(√5)
    a.down = (at::rand({rank, shape[1]}, gen) * (2 * bound) - bound).requires_grad_();
    a.up = at::zeros({shape[0], rank}).requires_grad_();
    a.scale = alpha / static_cast<double>(rank);
    params_.push_back(a.down);
    params_.push_back(a.up);
    modules_.push_back(module);
    weights_.push_back(named[name]);
    lora::attach_trainable(weights_.back(), a);
  }
  std::string unmatched;
  for (const auto& [t, n] : matched)
    if (n == 0) unmatched += (unmatched.empty() ? "" : ", ") + t;
  if (!unmatched.empty())
    throw ConfigError("no linear layer of the UNet matches --targets " + unmatched +
                      " (training adapts linear layers, e.g. to_q, to_k, to_v, to_out.0, proj_in)");
}

TrainableLora::~TrainableLora() {
  for (const auto& w : weights_) lora::detach_trainable(w);
}

namespace {

unet::UNetInputs unet_inputs(const TrainingExample& e, const at::Tensor& noisy, int64_t timestep,
                             at::ScalarType dtype) {
  const at::TensorOptions longs = at::TensorOptions().dtype(at::kLong);
  return {
      noisy.to(dtype),           at::scalar_tensor(timestep, longs), at::full({1}, e.fps, longs),
      e.image_latents.to(dtype), e.image_embeddings.to(dtype),       e.text_embeddings.to(dtype)};
}

}  // namespace

double TrainableLora::loss(const TrainingExample& e, const at::Tensor& noisy, int64_t timestep,
                           const at::Tensor& target) {
  at::NoGradGuard no_grad;
  const at::Tensor prediction = unet_->forward(unet_inputs(e, noisy, timestep, dtype_));
  return at::mse_loss(prediction.to(at::kFloat), target.to(at::kFloat)).item<double>();
}

LossAndGradients TrainableLora::loss_and_gradients(const TrainingExample& e,
                                                   const at::Tensor& noisy, int64_t timestep,
                                                   const at::Tensor& target,
                                                   bool gradient_checkpointing,
                                                   int64_t checkpoint_min_positions) {
  at::AutoGradMode grad(true);
  std::optional<nn::ScopedCheckpointing> checkpointing;
  if (gradient_checkpointing) checkpointing.emplace(params_, checkpoint_min_positions);
  const at::Tensor prediction = unet_->forward(unet_inputs(e, noisy, timestep, dtype_));
  const at::Tensor loss = at::mse_loss(prediction.to(at::kFloat), target.to(at::kFloat));
  LossAndGradients r;
  r.loss = loss.item<double>();
  if (!std::isfinite(r.loss))
    throw ConfigError("the training loss is not finite (lower --lr, or use --precision fp32)");
  r.gradients = torch::autograd::grad({loss}, params_, {}, /*retain_graph=*/false,
                                      /*create_graph=*/false, /*allow_unused=*/true);
  return r;
}

std::vector<std::pair<std::string, at::Tensor>> TrainableLora::peft_tensors() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (size_t i = 0; i < modules_.size(); ++i) {
    const std::string head = "unet." + modules_[i];
    out.emplace_back(head + ".lora_A.weight", params_[2 * i].detach().contiguous());
    out.emplace_back(head + ".lora_B.weight", params_[2 * i + 1].detach().contiguous());
    out.emplace_back(head + ".alpha", at::full({}, alpha_, at::kFloat));
  }
  return out;
}

void TrainableLora::load_peft_tensors(const std::map<std::string, at::Tensor>& tensors) {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < modules_.size(); ++i) {
    const std::string head = "unet." + modules_[i];
    for (int k = 0; k < 2; ++k) {
      const std::string key = head + (k == 0 ? ".lora_A.weight" : ".lora_B.weight");
      auto it = tensors.find(key);
      if (it == tensors.end())
        throw ConfigError("the saved training state has no " + key +
                          " (other --targets or --rank than the run it continues?)");
      if (it->second.sizes() != params_[2 * i + k].sizes())
        throw ShapeError("the saved training state's " + key +
                         " has another shape (other --rank than the run it continues?)");
      params_[2 * i + k].copy_(it->second);
    }
  }
}

}  // namespace i2v::train
