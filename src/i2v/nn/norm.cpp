#include "i2v/nn/norm.h"

#include <ATen/ATen.h>

namespace i2v::nn {
namespace {

at::Tensor as_f32(const at::Tensor& t) {
  return t.defined() && t.scalar_type() != at::kFloat ? t.to(at::kFloat) : t;
}

}  // namespace

GroupNorm32Impl::GroupNorm32Impl(int64_t groups, int64_t c, double e, bool affine)
    : num_groups(groups), channels(c), eps(e) {
  TORCH_CHECK(groups > 0 && c % groups == 0, "GroupNorm: ", c, " channels are not divisible into ",
              groups, " groups");
  if (affine) {
    weight = register_parameter("weight", at::ones({c}));
    bias = register_parameter("bias", at::zeros({c}));
  }
}

at::Tensor GroupNorm32Impl::forward(const at::Tensor& x) {
  // at::group_norm accepts (N, C, *) of any rank and normalises over each group's C/G x * block.
  at::Tensor y = at::group_norm(as_f32(x), num_groups, as_f32(weight), as_f32(bias), eps);
  return y.scalar_type() == x.scalar_type() ? y : y.to(x.scalar_type());
}

LayerNorm32Impl::LayerNorm32Impl(int64_t d, double e, bool affine) : dim(d), eps(e) {
  if (affine) {
    weight = register_parameter("weight", at::ones({d}));
    bias = register_parameter("bias", at::zeros({d}));
  }
}

at::Tensor LayerNorm32Impl::forward(const at::Tensor& x) {
  at::Tensor y = at::layer_norm(as_f32(x), {dim}, as_f32(weight), as_f32(bias), eps);
  return y.scalar_type() == x.scalar_type() ? y : y.to(x.scalar_type());
}

}  // namespace i2v::nn
