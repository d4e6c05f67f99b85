// AdamW (Loshchilov & Hutter, decoupled weight decay) for the LoRA matrices, with torch.optim.
// AdamW's defaults and update order: p -= lr·wd·p; m = b1·m + (1-b1)·g; v = b2·v + (1-b2)·g²;
// p -= lr · (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps). Float32 parameters and moments. Its
// state (the moments and the step count) is saved with a training checkpoint for --resume.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace i2v::train {

struct AdamWOptions {
  double lr = 1e-4, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 1e-2;
};

class AdamW {
 public:
  AdamW(std::vector<at::Tensor> params, AdamWOptions options);
  // One update of every parameter with its gradient (same order as the parameters).
  void step(const std::vector<at::Tensor>& grads);

  int64_t steps_done() const { return t_; }
  const std::vector<at::Tensor>& first_moments() const { return m_; }
  const std::vector<at::Tensor>& second_moments() const { return v_; }
  // Restores a saved state (ShapeError when it does not match the parameters).
  void restore(int64_t steps_done, const std::vector<at::Tensor>& m,
               const std::vector<at::Tensor>& v);

 private:
  std::vector<at::Tensor> params_, m_, v_;
  AdamWOptions o_;
  int64_t t_ = 0;
};

}  // namespace i2v::train
