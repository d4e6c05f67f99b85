// diffusers' FeedForward: net.0 = GEGLU or GELU projection, net.1 = dropout, net.2 = Linear.
// Large inputs are processed in blocks of tokens (feed_forward_budget() in chunking.h).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <string>

namespace i2v::nn {

// proj: Linear(dim_in, dim_out * (gated ? 2 : 1)); GEGLU: a * gelu(b) of the two halves.
class GatedGeluImpl : public torch::nn::Module {
 public:
  GatedGeluImpl(int64_t dim_in, int64_t dim_out, bool gated);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Linear proj{nullptr};
  bool gated;
};
TORCH_MODULE(GatedGelu);

class FeedForwardImpl : public torch::nn::Module {
 public:
  // activation: "geglu" or "gelu" (exact erf GELU).
  FeedForwardImpl(int64_t dim, int64_t dim_out = 0, int64_t mult = 4,
                  const std::string& activation = "geglu");
  at::Tensor forward(const at::Tensor& x);
  // residual += forward(x), each block's output projection accumulated into its rows of
  // residual where linear_add_into() can (residual: x's leading shape, dim_out, contiguous).
  void forward_add(const at::Tensor& x, at::Tensor& residual);
  torch::nn::ModuleList net{nullptr};

 private:
  void check_input(const at::Tensor& x) const;
  int64_t rows_per_block() const;  // tokens per block of the hidden activations
  GatedGelu act_{nullptr};
  torch::nn::Linear out_{nullptr};
};
TORCH_MODULE(FeedForward);

}  // namespace i2v::nn
