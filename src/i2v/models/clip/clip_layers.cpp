#include "i2v/models/clip/clip_layers.h"

#include "i2v/nn/layer_weight.h"

namespace i2v::clip {

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool bias,
                       const at::TensorOptions& options) {
  weight = register_parameter("weight", at::empty({out_features, in_features}, options),
                              /*requires_grad=*/false);
  if (bias) this->bias = register_parameter("bias", at::empty({out_features}, options), false);
}

at::Tensor LinearImpl::forward(const at::Tensor& x) const {
  return at::linear(x, nn::layer_weight(weight, x.scalar_type()), bias);  // 8-bit / LoRA: a copy
}

LayerNormImpl::LayerNormImpl(int64_t dim, double eps, const at::TensorOptions& options)
    : dim_(dim), eps_(eps) {
  weight = register_parameter("weight", at::empty({dim}, options), false);
  bias = register_parameter("bias", at::empty({dim}, options), false);
}

at::Tensor LayerNormImpl::forward(const at::Tensor& x) const {
  if (x.scalar_type() == at::kFloat && weight.scalar_type() == at::kFloat)
    return at::layer_norm(x, {dim_}, weight, bias, eps_);
  at::Tensor y =
      at::layer_norm(x.to(at::kFloat), {dim_}, weight.to(at::kFloat), bias.to(at::kFloat), eps_);
  return y.to(x.scalar_type());
}

EmbeddingImpl::EmbeddingImpl(int64_t num_embeddings, int64_t dim,
                             const at::TensorOptions& options) {
  weight = register_parameter("weight", at::empty({num_embeddings, dim}, options), false);
}

at::Tensor EmbeddingImpl::forward(const at::Tensor& ids) const {
  return at::embedding(weight, ids);
}

PatchConvImpl::PatchConvImpl(int64_t in_channels, int64_t out_channels, int64_t patch_size,
                             const at::TensorOptions& options)
    : patch_size_(patch_size) {
  weight = register_parameter(
      "weight", at::empty({out_channels, in_channels, patch_size, patch_size}, options), false);
}

at::Tensor PatchConvImpl::forward(const at::Tensor& x) const {
  return at::conv2d(x, weight, /*bias=*/{}, /*stride=*/{patch_size_, patch_size_});
}

}  // namespace i2v::clip
