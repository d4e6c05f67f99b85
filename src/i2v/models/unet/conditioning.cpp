#include "i2v/models/unet/conditioning.h"

#include <ATen/ATen.h>

#include <cmath>

#include "i2v/nn/conv.h"
#include "i2v/nn/linear.h"

namespace i2v::unet {

at::Tensor timestep_projection(const at::Tensor& values, int64_t dim) {
  const int64_t half = dim / 2;
  at::Tensor exponent =
      at::arange(0, half, at::TensorOptions().dtype(at::kFloat).device(values.device())) *
      (-std::log(10000.0));
  exponent = exponent / static_cast<double>(half);
  at::Tensor args = values.to(at::kFloat).unsqueeze(1) * at::exp(exponent).unsqueeze(0);
  at::Tensor emb = at::cat({at::cos(args), at::sin(args)}, -1);  // flip_sin_to_cos
  if (dim % 2 == 1) emb = at::constant_pad_nd(emb, {0, 1}, 0);
  return emb;
}

MlpImpl::MlpImpl(int64_t in, int64_t hidden, int64_t out, bool named_linears) {
  first_ = torch::nn::Linear(in, hidden);
  second_ = torch::nn::Linear(hidden, out);
  if (named_linears) {
    register_module("linear_1", first_);
    register_module("linear_2", second_);
  } else {
    // Children named by their index in the reference's nn.Sequential (1 is the SiLU).
    register_module("0", first_);
    register_module("2", second_);
  }
}

at::Tensor MlpImpl::forward(const at::Tensor& x) {
  return nn::linear(second_, at::silu(nn::linear(first_, x)));
}

ImageLatentsProjInImpl::ImageLatentsProjInImpl(int64_t c) {
  using torch::nn::Conv2dOptions;
  c0_ = torch::nn::Conv2d(Conv2dOptions(c, c * 4, 3).padding(1));
  c2_ = torch::nn::Conv2d(Conv2dOptions(c * 4, c * 4, 3).padding(1));
  c4_ = torch::nn::Conv2d(Conv2dOptions(c * 4, c, 3).padding(1));
  register_module("0", c0_);
  register_module("2", c2_);
  register_module("4", c4_);
}

at::Tensor ImageLatentsProjInImpl::forward(const at::Tensor& x) {
  return nn::conv2d(c4_, at::silu(nn::conv2d(c2_, at::silu(nn::conv2d(c0_, x)))));
}

ImageLatentsContextEmbeddingImpl::ImageLatentsContextEmbeddingImpl(int64_t c, int64_t cross) {
  using torch::nn::Conv2dOptions;
  c0_ = torch::nn::Conv2d(Conv2dOptions(c, c * 8, 3).padding(1));
  c3_ = torch::nn::Conv2d(Conv2dOptions(c * 8, c * 16, 3).stride(2).padding(1));
  c5_ = torch::nn::Conv2d(Conv2dOptions(c * 16, cross, 3).stride(2).padding(1));
  register_module("0", c0_);  // 1: SiLU, 2: AdaptiveAvgPool2d, 4: SiLU
  register_module("3", c3_);
  register_module("5", c5_);
}

at::Tensor ImageLatentsContextEmbeddingImpl::pooled(const at::Tensor& x) {
  return at::adaptive_avg_pool2d(at::silu(nn::conv2d(c0_, x)).contiguous(), {32, 32});
}

at::Tensor ImageLatentsContextEmbeddingImpl::forward(const at::Tensor& x) {
  return nn::conv2d(c5_, at::silu(nn::conv2d(c3_, pooled(x))));
}

TemporalEncoderImpl::TemporalEncoderImpl(int64_t dim, int64_t heads, int64_t head_dim) {
  nn::AttentionOptions a;
  a.query_dim = dim;
  a.heads = heads;
  a.dim_head = head_dim;
  norm1 = register_module("norm1", nn::LayerNorm32(dim, 1e-5));
  attn1 = register_module("attn1", nn::Attention(a));
  ff = register_module("ff", nn::FeedForward(dim, dim, 4, "gelu"));
}

at::Tensor TemporalEncoderImpl::forward(const at::Tensor& x) {
  at::Tensor h = attn1->forward(norm1->forward(x)) + x;
  return ff->forward(h) + h;
}

}  // namespace i2v::unet
