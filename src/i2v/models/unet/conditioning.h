// The UNet's conditioning embedders: sinusoidal projection of timesteps and fps, their MLPs, the
// CLIP-image context tokens, and the two image-latent encoders (diffusers' names and indices).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "i2v/nn/attention.h"
#include "i2v/nn/feed_forward.h"
#include "i2v/nn/norm.h"

namespace i2v::unet {

// diffusers' Timesteps(dim, flip_sin_to_cos=True, downscale_freq_shift=0): float32
// [cos(v * f_i), sin(v * f_i)] with f_i = exp(-ln(10000) i / (dim/2)), for v of shape (N,).
at::Tensor timestep_projection(const at::Tensor& values, int64_t dim);

// Linear -> SiLU -> Linear, registered as a list so the names are "<name>.0" and "<name>.2"
// (fps_embedding, context_embedding) or "linear_1"/"linear_2" (time_embedding).
class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(int64_t in, int64_t hidden, int64_t out, bool named_linears);
  at::Tensor forward(const at::Tensor& x);

 private:
  torch::nn::Linear first_{nullptr}, second_{nullptr};
};
TORCH_MODULE(Mlp);

// image_latents_proj_in: conv3x3(C->4C) SiLU conv3x3(4C->4C) SiLU conv3x3(4C->C), per frame.
class ImageLatentsProjInImpl : public torch::nn::Module {
 public:
  explicit ImageLatentsProjInImpl(int64_t channels);
  at::Tensor forward(const at::Tensor& x);

 private:
  torch::nn::Conv2d c0_{nullptr}, c2_{nullptr}, c4_{nullptr};
};
TORCH_MODULE(ImageLatentsProjIn);

// image_latents_context_embedding: conv3x3(C->8C) SiLU AdaptiveAvgPool(32x32) conv3x3 s2(8C->16C)
// SiLU conv3x3 s2(16C->cross_dim): always 8x8 = 64 context tokens, whatever the resolution.
class ImageLatentsContextEmbeddingImpl : public torch::nn::Module {
 public:
  ImageLatentsContextEmbeddingImpl(int64_t channels, int64_t cross_attention_dim);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor pooled(const at::Tensor& x);  // the output after the adaptive pool (for tests)

 private:
  torch::nn::Conv2d c0_{nullptr}, c3_{nullptr}, c5_{nullptr};
};
TORCH_MODULE(ImageLatentsContextEmbedding);

// I2VGenXLTransformerTemporalEncoder: x += attn1(norm1(x)); x += ff(x) (no norm before the
// GELU feed-forward), over sequences of frames (N, F, C).
class TemporalEncoderImpl : public torch::nn::Module {
 public:
  TemporalEncoderImpl(int64_t dim, int64_t heads, int64_t head_dim);
  at::Tensor forward(const at::Tensor& x);

  nn::LayerNorm32 norm1{nullptr};
  nn::Attention attn1{nullptr};
  nn::FeedForward ff{nullptr};
};
TORCH_MODULE(TemporalEncoder);

}  // namespace i2v::unet
