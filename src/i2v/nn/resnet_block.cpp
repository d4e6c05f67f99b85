#include "i2v/nn/resnet_block.h"

#include "i2v/nn/conv.h"
#include "i2v/nn/layer_weight.h"

#include <ATen/ATen.h>

#include "i2v/error.h"
#include "i2v/nn/shape_check.h"

namespace i2v::nn {

ResnetBlock2DImpl::ResnetBlock2DImpl(int64_t in_channels, int64_t out_channels,
                                     int64_t temb_channels, int64_t groups, double eps,
                                     double scale)
    : output_scale_factor(scale), in_channels_(in_channels) {
  using torch::nn::Conv2dOptions;
  norm1 = register_module("norm1", GroupNorm32(groups, in_channels, eps));
  conv1 = register_module(
      "conv1", torch::nn::Conv2d(Conv2dOptions(in_channels, out_channels, 3).padding(1)));
  if (temb_channels > 0) {
    time_emb_proj =
        register_module("time_emb_proj", torch::nn::Linear(temb_channels, out_channels));
  }
  norm2 = register_module("norm2", GroupNorm32(groups, out_channels, eps));
  conv2 = register_module(
      "conv2", torch::nn::Conv2d(Conv2dOptions(out_channels, out_channels, 3).padding(1)));
  if (in_channels != out_channels) {
    conv_shortcut = register_module("conv_shortcut",
                                    torch::nn::Conv2d(Conv2dOptions(in_channels, out_channels, 1)));
  }
}

at::Tensor ResnetBlock2DImpl::forward(const at::Tensor& x, const at::Tensor& temb) {
  require_nchw(x, in_channels_, "resnet block");
  if (temb.defined() && time_emb_proj &&
      (temb.dim() != 2 || temb.size(0) != x.size(0) ||
       temb.size(1) != time_emb_proj->options.in_features())) {
    throw ShapeError("resnet block: expected temb (" + std::to_string(x.size(0)) + ", " +
                     std::to_string(time_emb_proj->options.in_features()) + "), got " +
                     shape_string(temb));
  }
  at::Tensor h = conv2d(conv1, norm1->forward_silu(x));
  if (temb.defined() && time_emb_proj) {
    ScopedLayerWeights weights(*time_emb_proj, temb.scalar_type());
    h = h + time_emb_proj->forward(at::silu(temb)).unsqueeze(-1).unsqueeze(-1);
  }
  h = conv2d(conv2, norm2->forward_silu(h));
  at::Tensor shortcut = conv_shortcut ? conv2d(conv_shortcut, x) : x;
  at::Tensor out = shortcut + h;
  if (output_scale_factor != 1.0) out = out / output_scale_factor;
  return out;
}

}  // namespace i2v::nn
