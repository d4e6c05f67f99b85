#include "i2v/nn/feed_forward.h"

#include <ATen/ATen.h>

#include "i2v/core/error.h"
#include "i2v/nn/placeholder.h"

namespace i2v::nn {

GatedGeluImpl::GatedGeluImpl(int64_t dim_in, int64_t dim_out, bool g) : gated(g) {
  proj = register_module("proj", torch::nn::Linear(dim_in, dim_out * (gated ? 2 : 1)));
}

at::Tensor GatedGeluImpl::forward(const at::Tensor& x) {
  at::Tensor h = proj->forward(x);
  if (!gated) return at::gelu(h);
  auto parts = h.chunk(2, -1);
  return parts[0] * at::gelu(parts[1]);
}

FeedForwardImpl::FeedForwardImpl(int64_t dim, int64_t dim_out, int64_t mult,
                                 const std::string& activation) {
  if (activation != "geglu" && activation != "gelu") {
    throw ConfigError("unsupported feed-forward activation '" + activation + "'");
  }
  const int64_t inner = dim * mult;
  act_ = GatedGelu(dim, inner, activation == "geglu");
  out_ = torch::nn::Linear(inner, dim_out > 0 ? dim_out : dim);
  net = register_module("net", torch::nn::ModuleList(act_, Placeholder(), out_));
}

at::Tensor FeedForwardImpl::forward(const at::Tensor& x) {
  return out_->forward(act_->forward(x));
}

}  // namespace i2v::nn
