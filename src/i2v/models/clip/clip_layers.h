// The parameter-holding building blocks of the CLIP towers (Linear, LayerNorm, Embedding,
// patch Conv2d). Parameters are created uninitialised in the requested dtype and device: the
// towers are always filled from a weights file (or by a random initialiser), so default
// initialisation would only cost time and, for the 1.2 GB vision tower, touch memory.
// Parameter names ("weight", "bias") are those of torch.nn, so state-dict names match. They do
// not require gradients (inference only).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <cstdint>

namespace i2v::clip {

class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool bias,
             const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;

  at::Tensor weight;  // (out, in)
  at::Tensor bias;    // (out) or undefined
};

// LayerNorm over the last dimension, computed in fp32 whatever the activation dtype (bf16 runs
// upcast, normalise, cast back), as the reference computes it.
class LayerNormImpl : public torch::nn::Module {
 public:
  LayerNormImpl(int64_t dim, double eps, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;

  at::Tensor weight;
  at::Tensor bias;

 private:
  int64_t dim_;
  double eps_;
};

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t num_embeddings, int64_t dim, const at::TensorOptions& options);
  // Rows of the table for integer `ids` (any shape); ids must already be in range.
  at::Tensor forward(const at::Tensor& ids) const;

  at::Tensor weight;  // (num_embeddings, dim)
};

// Non-overlapping patch projection: Conv2d(in, out, kernel = stride = patch, no bias).
class PatchConvImpl : public torch::nn::Module {
 public:
  PatchConvImpl(int64_t in_channels, int64_t out_channels, int64_t patch_size,
                const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;  // (N, in, H, W) -> (N, out, H/p, W/p)

  at::Tensor weight;  // (out, in, p, p)

 private:
  int64_t patch_size_;
};

}  // namespace i2v::clip
