// The UNet's layers run under an ExecPlan's exact chunking. Per-frame layers (ResNet blocks,
// spatial transformers, samplers, convs) see rows of (batch x frames) independently, so they run
// in chunks of rows. Temporal layers mix the frames at one spatial position: they run in chunks of
// positions (whole image rows), after the GroupNorm statistics over all frames and positions are
// computed. With chunk 0 each function calls the layer's plain forward.
#pragma once

#include <ATen/ATen.h>

#include "i2v/memory/exec_plan.h"
#include "i2v/nn/resnet_block.h"
#include "i2v/nn/temporal_conv.h"
#include "i2v/nn/transformer_2d.h"
#include "i2v/nn/transformer_temporal.h"

namespace i2v::unet {

at::Tensor resnet_chunked(nn::ResnetBlock2DImpl& resnet, const at::Tensor& x,
                          const at::Tensor& temb, int64_t frame_chunk);
at::Tensor spatial_transformer_chunked(nn::Transformer2DModelImpl& t, const at::Tensor& x,
                                       const at::Tensor& context, int64_t frame_chunk);
// x (B*F, C, H, W); chunk = spatial positions per piece (rounded to whole rows of W).
at::Tensor temporal_conv_chunked(nn::TemporalConvLayerImpl& layer, const at::Tensor& x,
                                 int64_t num_frames, int64_t position_chunk);
at::Tensor temporal_transformer_chunked(nn::TransformerTemporalModelImpl& t, const at::Tensor& x,
                                        int64_t num_frames, int64_t position_chunk);

// GroupNorm over (B, C, ...) computed in two passes over chunks of dim 3 (rows), float32 result
// statistics: mean and 1/sqrt(var + eps), each (B, G).
struct GroupStats {
  at::Tensor mean, rstd;
};
GroupStats group_stats_by_rows(const at::Tensor& x5, int64_t groups, double eps, int64_t rows);
// Applies the statistics (and the affine weight/bias) to a row slice of x5, returning float32.
at::Tensor apply_group_norm(const at::Tensor& x5_slice, const GroupStats& s, int64_t groups,
                            const at::Tensor& weight, const at::Tensor& bias);

}  // namespace i2v::unet
