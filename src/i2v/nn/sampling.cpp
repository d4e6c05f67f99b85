#include "i2v/nn/sampling.h"
#include "i2v/nn/conv.h"

#include <ATen/ATen.h>

#include <cstdlib>
#include <string>

#include "i2v/error.h"
#include "i2v/kernels/onednn_conv.h"
#include "i2v/kernels/onednn_gemm.h"
#include "i2v/nn/autograd.h"
#include "i2v/nn/layer_weight.h"
#include "i2v/nn/shape_check.h"
#include "i2v/nn/upsample_conv.h"

namespace i2v::nn {
namespace {

// A plain 3x3 convolution with stride 1 and padding 1, and I2V_UPSAMPLE_PHASES not set to 0.
bool phase_conv_applies(const torch::nn::Conv2d& conv) {
  static const bool enabled = [] {
    const char* v = std::getenv("I2V_UPSAMPLE_PHASES");
    return !(v && std::string(v) == "0");
  }();
  return enabled && kernels::onednn_gemm_enabled() && conv_is(conv, 3, 1, 1);
}

}  // namespace

Downsample2DImpl::Downsample2DImpl(int64_t channels, int64_t out_channels, int64_t pad)
    : padding(pad) {
  conv = register_module(
      "conv", torch::nn::Conv2d(
                  torch::nn::Conv2dOptions(channels, out_channels > 0 ? out_channels : channels, 3)
                      .stride(2)
                      .padding(pad)));
}

at::Tensor Downsample2DImpl::forward(const at::Tensor& x) {
  require_nchw(x, conv->options.in_channels(), "downsample");
  if (padding == 0) return conv2d(conv, at::constant_pad_nd(x, {0, 1, 0, 1}, 0));
  return conv2d(conv, x);
}

Upsample2DImpl::Upsample2DImpl(int64_t channels, int64_t out_channels) {
  conv = register_module(
      "conv", torch::nn::Conv2d(
                  torch::nn::Conv2dOptions(channels, out_channels > 0 ? out_channels : channels, 3)
                      .padding(1)));
}

at::Tensor Upsample2DImpl::forward(const at::Tensor& x,
                                   const std::optional<std::vector<int64_t>>& output_size) {
  require_nchw(x, conv->options.in_channels(), "upsample");
  if (output_size && (output_size->size() != 2 || (*output_size)[0] < 1 || (*output_size)[1] < 1)) {
    throw ShapeError("upsample: output size must be two positive numbers (H, W)");
  }
  if (!output_size && x.scalar_type() == at::kBFloat16 && !needs_graph(x) &&
      phase_conv_applies(conv)) {
    // bf16 doubling on oneDNN: the 2.25x cheaper phase form (upsample_conv.h).
    const at::Tensor weight = layer_weight(conv->weight, x.scalar_type());
    const bool persistent = weight.is_same(conv->weight);  // not a dequantized / adapted copy
    at::Tensor y = upsample2x_conv3x3(
        x, weight, conv->bias,
        [persistent](const at::Tensor& in, const at::Tensor& k, const at::Tensor& b) {
          return kernels::onednn_conv2d(in, k, b, /*stride=*/1, /*padding=*/1, persistent);
        },
        persistent);
    if (y.defined()) return y;
  }
  if (!output_size) {
    // Doubling: every value copied into a 2x2 block, as one strided copy in x's dtype (exactly
    // what nearest upsampling computes, without a float32 round trip for bf16).
    const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    at::Tensor up =
        x.unsqueeze(3).unsqueeze(5).expand({n, c, h, 2, w, 2}).reshape({n, c, 2 * h, 2 * w});
    return conv2d(conv, up);
  }
  // libtorch 1.13 has no bf16 nearest-upsampling kernel on CPU; nearest only copies values, so the
  // float32 round trip (the reference does the same) changes nothing.
  at::Tensor in = x.scalar_type() == at::kBFloat16 ? x.to(at::kFloat) : x;
  at::Tensor up;
  if (output_size) {
    up = at::upsample_nearest2d(in, *output_size);
  } else {
    up = at::upsample_nearest2d(in, {x.size(2) * 2, x.size(3) * 2});
  }
  if (up.scalar_type() != x.scalar_type()) up = up.to(x.scalar_type());
  return conv2d(conv, up);
}

}  // namespace i2v::nn
