// diffusers' I2VGenXLUNet: a 3-D UNet over (B, 4, F, h, w) latents conditioned on the timestep,
// the fps, text embeddings, the CLIP image embedding and the VAE latents of the first frame.
// Parameter names equal the diffusers state dict.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <functional>
#include <string>

#include "i2v/memory/exec_plan.h"
#include "i2v/models/unet/blocks_3d.h"
#include "i2v/models/unet/conditioning.h"
#include "i2v/models/unet/unet_config.h"
#include "i2v/nn/norm.h"
#include "i2v/nn/transformer_temporal.h"

namespace i2v::unet {

struct UNetInputs {
  at::Tensor sample;                 // (B, in_channels, F, h, w) noisy latents
  at::Tensor timestep;               // () or (B,) integer or float
  at::Tensor fps;                    // (B,) integer
  at::Tensor image_latents;          // (B, in_channels, F, h, w)
  at::Tensor image_embeddings;       // (B, 1, cross_attention_dim)
  at::Tensor encoder_hidden_states;  // (B, L, cross_attention_dim)
  // (B, in_channels, h, w): the latents the image context tokens come from; undefined = frame 0
  // of image_latents. A frame window that does not start at frame 0 passes the video's frame 0.
  at::Tensor context_image_latents = {};  // (defaulted: callers may leave it out)
};

// Called with (module path, output) after each top-level stage when set (tests, debugging).
using UNetTrace = std::function<void(const std::string&, const at::Tensor&)>;

class I2VGenXLUNetImpl : public torch::nn::Module {
 public:
  explicit I2VGenXLUNetImpl(const UNetConfig& config);

  // The prediction (v for I2VGen-XL), (B, out_channels, F, h, w), in the sample's dtype.
  // `plan` chooses the exact chunking (frame / temporal chunks); `hooks`, when given, run around
  // each top-level block (weight streaming) and `hooks->after(*this)` once at the end.
  at::Tensor forward(const UNetInputs& in, const UNetTrace& trace = {},
                     const memory::ExecPlan& plan = memory::ExecPlan(),
                     const memory::BlockHooks* hooks = nullptr);

  const UNetConfig& config() const { return config_; }
  // The top-level blocks the forward runs between its BlockHooks, in forward order:
  // transformer_in, down_blocks.*, mid_block, up_blocks.*. Everything else is small (embeddings,
  // conv_in/out, the image-latent encoder).
  std::vector<torch::nn::Module*> top_level_blocks();

  // The conditioning path, exposed for tests: (B*F, time_embed_dim) and (B, F, tokens, cross dim)
  // (the same tokens for every frame, an expanded view).
  at::Tensor time_embedding_of(const at::Tensor& timestep, const at::Tensor& fps, int64_t batch,
                               int64_t num_frames, at::ScalarType dtype,
                               const UNetTrace& trace = {});
  at::Tensor context_of(const UNetInputs& in, const UNetTrace& trace = {});

  Mlp time_embedding{nullptr}, fps_embedding{nullptr}, context_embedding{nullptr};
  ImageLatentsProjIn image_latents_proj_in{nullptr};
  ImageLatentsContextEmbedding image_latents_context_embedding{nullptr};
  TemporalEncoder image_latents_temporal_encoder{nullptr};
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  nn::TransformerTemporalModel transformer_in{nullptr};
  std::vector<DownBlock3D> down_blocks;
  MidBlock3D mid_block{nullptr};
  std::vector<UpBlock3D> up_blocks;
  nn::GroupNorm32 conv_norm_out{nullptr};

 private:
  void check_inputs(const UNetInputs& in) const;
  UNetConfig config_;
};
TORCH_MODULE(I2VGenXLUNet);

}  // namespace i2v::unet
