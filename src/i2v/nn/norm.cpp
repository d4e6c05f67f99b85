#include "i2v/nn/norm.h"

#include <ATen/ATen.h>
#include <ATen/record_function.h>

#include <string>

#include "i2v/error.h"
#include "i2v/kernels/group_norm.h"
#include "i2v/kernels/layer_norm.h"
#include "i2v/nn/autograd.h"
#include "i2v/nn/shape_check.h"

namespace i2v::nn {
namespace {

at::Tensor as_f32(const at::Tensor& t) {
  return t.defined() && t.scalar_type() != at::kFloat ? t.to(at::kFloat) : t;
}

}  // namespace

GroupNorm32Impl::GroupNorm32Impl(int64_t groups, int64_t c, double e, bool affine)
    : num_groups(groups), channels(c), eps(e) {
  if (groups <= 0 || c <= 0 || c % groups != 0) {
    throw ConfigError("GroupNorm: " + std::to_string(c) + " channels cannot be split into " +
                      std::to_string(groups) + " groups");
  }
  if (affine) {
    weight = register_parameter("weight", at::ones({c}));
    bias = register_parameter("bias", at::zeros({c}));
  }
}

at::Tensor GroupNorm32Impl::forward(const at::Tensor& x) {
  if (!x.defined() || x.dim() < 2 || x.size(1) != channels) {
    throw ShapeError("GroupNorm: expected input (N, " + std::to_string(channels) + ", ...), got " +
                     shape_string(x));
  }
  return normalize(x, false);
}

at::Tensor GroupNorm32Impl::forward_silu(const at::Tensor& x) {
  if (!x.defined() || x.dim() < 2 || x.size(1) != channels) {
    throw ShapeError("GroupNorm: expected input (N, " + std::to_string(channels) + ", ...), got " +
                     shape_string(x));
  }
  return normalize(x, true);
}

at::Tensor GroupNorm32Impl::forward_tokens(const at::Tensor& x, bool silu) {
  if (!x.defined() || x.dim() != 3 || x.size(2) != channels) {
    throw ShapeError("GroupNorm: expected tokens (N, L, " + std::to_string(channels) + "), got " +
                     shape_string(x));
  }
  if (uses_kernel(x)) return kernels::group_norm_tokens(x, num_groups, weight, bias, eps, silu);
  return normalize(x.transpose(1, 2), silu).transpose(1, 2).contiguous();
}

bool GroupNorm32Impl::uses_kernel(const at::Tensor& x) const {
  return x.device().is_cpu() &&
         (x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16) && !needs_graph(x);
}

at::Tensor GroupNorm32Impl::normalize(const at::Tensor& x, bool silu) {
  // The fused CPU kernel reads contiguous and channels-last inputs in place (float32 statistics).
  if (uses_kernel(x)) return kernels::group_norm(x, num_groups, weight, bias, eps, silu);
  // at::group_norm accepts (N, C, *) of any rank and normalises over each group's C/G x * block.
  at::Tensor y = at::group_norm(as_f32(x), num_groups, as_f32(weight), as_f32(bias), eps);
  if (silu) y = at::silu(y);
  return y.scalar_type() == x.scalar_type() ? y : y.to(x.scalar_type());
}

LayerNorm32Impl::LayerNorm32Impl(int64_t d, double e, bool affine) : dim(d), eps(e) {
  if (d <= 0) throw ConfigError("LayerNorm: dimension must be positive, got " + std::to_string(d));
  if (affine) {
    weight = register_parameter("weight", at::ones({d}));
    bias = register_parameter("bias", at::zeros({d}));
  }
}

at::Tensor LayerNorm32Impl::forward(const at::Tensor& x) {
  if (!x.defined() || x.dim() < 1 || x.size(-1) != dim) {
    throw ShapeError("LayerNorm: expected input (..., " + std::to_string(dim) + "), got " +
                     shape_string(x));
  }
  if (x.device().is_cpu() && x.scalar_type() == at::kBFloat16 && !needs_graph(x)) {
    RECORD_FUNCTION("i2v::layer_norm", std::vector<c10::IValue>({x}));
    return kernels::layer_norm(x, weight, bias, eps);  // one read, one write, float32 statistics
  }
  at::Tensor y = at::layer_norm(as_f32(x), {dim}, as_f32(weight), as_f32(bias), eps);
  return y.scalar_type() == x.scalar_type() ? y : y.to(x.scalar_type());
}

}  // namespace i2v::nn
