// The UNet's 3-D blocks (diffusers unet_3d_blocks): per layer a ResnetBlock2D and a
// TemporalConvLayer, then (cross-attention blocks) a spatial Transformer2DModel and a
// TransformerTemporalModel. Frames are folded into the batch: tensors are (B*F, C, H, W).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <optional>
#include <vector>

#include "i2v/memory/exec_plan.h"
#include "i2v/nn/resnet_block.h"
#include "i2v/nn/sampling.h"
#include "i2v/nn/temporal_conv.h"
#include "i2v/nn/transformer_2d.h"
#include "i2v/nn/transformer_temporal.h"

namespace i2v::unet {

// What every block needs to know besides its channels.
struct BlockSettings {
  int64_t temb_channels;
  int64_t groups;
  int64_t head_size;  // transformers get channels / head_size heads of head_size
  int64_t cross_attention_dim;
  int64_t num_layers;
  bool cross_attention;  // CrossAttn*Block3D vs plain *Block3D
};

// Shared storage: resnets.i, temp_convs.i, attentions.i, temp_attentions.i.
class Layers3D {
 protected:
  void build(torch::nn::Module& owner, const std::vector<std::pair<int64_t, int64_t>>& resnet_io,
             const BlockSettings& s, bool with_attention);
  // Layer i: resnet -> temporal conv -> (spatial transformer -> temporal transformer).
  at::Tensor layer(size_t i, at::Tensor h, const at::Tensor& temb, const at::Tensor& context,
                   int64_t num_frames, const memory::ExecPlan& plan);

  std::vector<nn::ResnetBlock2D> resnets_;
  std::vector<nn::TemporalConvLayer> temp_convs_;
  std::vector<nn::Transformer2DModel> attentions_;
  std::vector<nn::TransformerTemporalModel> temp_attentions_;
};

// CrossAttnDownBlock3D / DownBlock3D.
class DownBlock3DImpl : public torch::nn::Module, Layers3D {
 public:
  DownBlock3DImpl(int64_t in_channels, int64_t out_channels, const BlockSettings& s,
                  bool add_downsample);
  // Returns the hidden state and appends each layer's output (and the downsampled one) to `skips`.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& temb, const at::Tensor& context,
                     int64_t num_frames, std::vector<at::Tensor>& skips,
                     const memory::ExecPlan& plan = memory::ExecPlan());

 private:
  nn::Downsample2D downsample_{nullptr};
};
TORCH_MODULE(DownBlock3D);

// UNetMidBlock3DCrossAttn: resnet, temporal conv, then per layer [spatial transformer, temporal
// transformer, resnet, temporal conv].
class MidBlock3DImpl : public torch::nn::Module {
 public:
  MidBlock3DImpl(int64_t channels, const BlockSettings& s);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& temb, const at::Tensor& context,
                     int64_t num_frames, const memory::ExecPlan& plan = memory::ExecPlan());

 private:
  std::vector<nn::ResnetBlock2D> resnets_;
  std::vector<nn::TemporalConvLayer> temp_convs_;
  std::vector<nn::Transformer2DModel> attentions_;
  std::vector<nn::TransformerTemporalModel> temp_attentions_;
};
TORCH_MODULE(MidBlock3D);

// CrossAttnUpBlock3D / UpBlock3D: each layer first concatenates the most recent skip.
class UpBlock3DImpl : public torch::nn::Module, Layers3D {
 public:
  UpBlock3DImpl(int64_t in_channels, int64_t prev_output_channels, int64_t out_channels,
                const BlockSettings& s, bool add_upsample);
  // Consumes num_layers skips from the back of `skips`. upsample_size: explicit output size of
  // the upsampler (when the input size is not a multiple of the overall factor).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& temb, const at::Tensor& context,
                     int64_t num_frames, std::vector<at::Tensor>& skips,
                     const std::optional<std::vector<int64_t>>& upsample_size,
                     const memory::ExecPlan& plan = memory::ExecPlan());
  int64_t num_layers() const { return static_cast<int64_t>(resnets_.size()); }

 private:
  nn::Upsample2D upsample_{nullptr};
};
TORCH_MODULE(UpBlock3D);

}  // namespace i2v::unet
