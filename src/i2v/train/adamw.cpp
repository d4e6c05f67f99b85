#include "i2v/train/adamw.h"

#include <cmath>

#include "i2v/error.h"

namespace i2v::train {

AdamW::AdamW(std::vector<at::Tensor> params, AdamWOptions options)
    : params_(std::move(params)), o_(options) {
  for (const at::Tensor& p : params_) {
    m_.push_back(at::zeros_like(p, at::kFloat));
    v_.push_back(at::zeros_like(p, at::kFloat));
  }
}

void AdamW::step(const std::vector<at::Tensor>& grads) {
  if (grads.size() != params_.size()) throw ShapeError("AdamW: one gradient per parameter");
  at::NoGradGuard no_grad;
  ++t_;
  const double c1 = 1 - std::pow(o_.beta1, static_cast<double>(t_));
  const double c2 = 1 - std::pow(o_.beta2, static_cast<double>(t_));
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i];
    if (!grads[i].defined()) continue;  // a parameter the loss does not reach
    const at::Tensor g = grads[i].to(at::kFloat);
    p.mul_(1 - o_.lr * o_.weight_decay);
    m_[i].mul_(o_.beta1).add_(g, 1 - o_.beta1);
    v_[i].mul_(o_.beta2).addcmul_(g, g, 1 - o_.beta2);
    const at::Tensor denom = (v_[i] / c2).sqrt_().add_(o_.eps);
    p.addcdiv_(m_[i], denom, -o_.lr / c1);
  }
}

void AdamW::restore(int64_t steps_done, const std::vector<at::Tensor>& m,
                    const std::vector<at::Tensor>& v) {
  if (m.size() != params_.size() || v.size() != params_.size())
    throw ShapeError("AdamW state: wrong number of moments for these parameters");
  for (size_t i = 0; i < params_.size(); ++i) {
    if (m[i].sizes() != params_[i].sizes() || v[i].sizes() != params_[i].sizes())
      throw ShapeError("AdamW state: a moment's shape does not match its parameter");
    m_[i] = m[i].to(at::kFloat).clone();
    v_[i] = v[i].to(at::kFloat).clone();
  }
  t_ = steps_done;
}

}  // namespace i2v::train
