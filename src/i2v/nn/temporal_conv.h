// diffusers' TemporalConvLayer (ModelScope "temp_convs"): four [GroupNorm, SiLU, (Dropout),
// Conv3d (3,1,1)] stages mixing each position with its neighbouring frames, plus the identity.
// Names: conv1.0 (norm) conv1.2 (conv), conv{2,3,4}.0 (norm) conv{2,3,4}.3 (conv).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "i2v/nn/norm.h"

namespace i2v::nn {

class TemporalConvLayerImpl : public torch::nn::Module {
 public:
  TemporalConvLayerImpl(int64_t in_channels, int64_t out_channels, int64_t norm_num_groups);
  // x (B*F, C, H, W) -> same shape.
  at::Tensor forward(const at::Tensor& x, int64_t num_frames);

  std::vector<GroupNorm32> norms;
  std::vector<torch::nn::Conv3d> convs;

 private:
  // convs[i] applied to token-major h (B, F*S, C_in) -> (B, F*S, C_out), as matrix products.
  at::Tensor mix_frames(const at::Tensor& h, size_t i, int64_t num_frames);
};
TORCH_MODULE(TemporalConvLayer);

}  // namespace i2v::nn
