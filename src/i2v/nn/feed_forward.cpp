#include "i2v/nn/feed_forward.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <string>
#include <vector>

#include "i2v/error.h"
#include "i2v/kernels/gated_gelu.h"
#include "i2v/nn/autograd.h"
#include "i2v/nn/chunking.h"
#include "i2v/nn/layer_weight.h"
#include "i2v/nn/linear.h"
#include "i2v/nn/placeholder.h"
#include "i2v/nn/shape_check.h"

namespace i2v::nn {

GatedGeluImpl::GatedGeluImpl(int64_t dim_in, int64_t dim_out, bool g) : gated(g) {
  proj = register_module("proj", torch::nn::Linear(dim_in, dim_out * (gated ? 2 : 1)));
}

at::Tensor GatedGeluImpl::forward(const at::Tensor& x) {
  at::Tensor h = linear(proj, x);
  if (h.device().is_cpu() && (h.scalar_type() == at::kFloat || h.scalar_type() == at::kBFloat16) &&
      !needs_graph(h)) {
    return gated ? kernels::gated_gelu(h) : kernels::gelu(h);  // one pass, not three
  }
  if (!gated) return at::gelu(h);
  auto parts = h.chunk(2, -1);               // value, gate
  return at::gelu(parts[1]).mul_(parts[0]);  // in place: one hidden-sized buffer less
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

void FeedForwardImpl::check_input(const at::Tensor& x) const {
  const int64_t dim = act_->proj->options.in_features();
  if (!x.defined() || x.dim() < 1 || x.size(-1) != dim) {
    throw ShapeError("feed-forward: expected input (..., " + std::to_string(dim) + "), got " +
                     shape_string(x));
  }
}

int64_t FeedForwardImpl::rows_per_block() const {
  const int64_t width = act_->proj->options.out_features();
  // At least kMinFeedForwardRows per block when the budget allows any blocking at all: each block
  // is one matrix product per layer, and below ~2k rows the weights' per-call reorder into
  // oneDNN's layout (26 MiB for the 1280 -> 10240 projection) costs more than the block saves.
  constexpr int64_t kMinFeedForwardRows = 2048;
  const int64_t budget_rows = std::max<int64_t>(1, feed_forward_budget() / width);
  return budget_rows >= 64 ? std::max(budget_rows, kMinFeedForwardRows) : budget_rows;
}

at::Tensor FeedForwardImpl::forward(const at::Tensor& x) {
  check_input(x);
  // Tokens are independent, so blocks of rows give the same result with a bounded hidden buffer.
  const int64_t dim = x.size(-1), rows = rows_per_block();
  const int64_t tokens = x.numel() / dim;
  if (tokens <= rows) return linear(out_, act_->forward(x));

  ScopedLayerWeights weights(*this, x.scalar_type());  // once, not per block
  const at::Tensor x2 = x.reshape({tokens, dim});
  std::vector<int64_t> out_shape(x.sizes().begin(), x.sizes().end());
  out_shape.back() = out_->options.out_features();
  at::Tensor out = at::empty({tokens, out_shape.back()}, x.options());
  for (int64_t r0 = 0; r0 < tokens; r0 += rows) {
    const int64_t n = std::min(rows, tokens - r0);
    out.narrow(0, r0, n).copy_(linear(out_, act_->forward(x2.narrow(0, r0, n))));
  }
  return out.view(out_shape);
}

void FeedForwardImpl::forward_add(const at::Tensor& x, at::Tensor& residual) {
  check_input(x);
  const int64_t dim = x.size(-1), rows = rows_per_block();
  const int64_t tokens = x.numel() / dim, width = out_->options.out_features();
  if (needs_graph(x) || !residual.defined() || !residual.is_contiguous() ||
      residual.numel() != tokens * width) {
    const at::Tensor y = forward(x);
    add_into(residual, y);
    return;
  }
  if (tokens <= rows) {
    linear_add_into(out_, act_->forward(x), residual);
    return;
  }
  ScopedLayerWeights weights(*this, x.scalar_type());  // once, not per block
  const at::Tensor x2 = x.reshape({tokens, dim});
  const at::Tensor r2 = residual.view({tokens, width});
  for (int64_t r0 = 0; r0 < tokens; r0 += rows) {
    const int64_t n = std::min(rows, tokens - r0);
    at::Tensor block = r2.narrow(0, r0, n);  // contiguous rows of residual's memory
    linear_add_into(out_, act_->forward(x2.narrow(0, r0, n)), block);
  }
}

}  // namespace i2v::nn
