#include "i2v/nn/conv.h"

#include <ATen/ATen.h>
#include <torch/version.h>

#include "i2v/error.h"
#include "i2v/kernels/onednn_conv.h"
#include "i2v/nn/autograd.h"
#include "i2v/nn/layer_weight.h"

namespace i2v::nn {
namespace {
// The options' padding is a variant: c10::variant before libtorch 2.1, std::variant after.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
namespace var = std;
#else
namespace var = c10;
#endif
}  // namespace

bool conv_is(const torch::nn::Conv2d& layer, int64_t kernel, int64_t stride, int64_t padding) {
  const auto& o = layer->options;
  const auto &k = o.kernel_size(), &s = o.stride(), &d = o.dilation();
  const auto* pad = var::get_if<torch::ExpandingArray<2>>(&o.padding());
  return o.groups() == 1 && (*k)[0] == kernel && (*k)[1] == kernel && (*s)[0] == stride &&
         (*s)[1] == stride && (*d)[0] == 1 && (*d)[1] == 1 && pad && (**pad)[0] == padding &&
         (**pad)[1] == padding && var::holds_alternative<torch::enumtype::kZeros>(o.padding_mode());
}

at::Tensor conv2d(const torch::nn::Conv2d& layer, const at::Tensor& x) {
  const auto& o = layer->options;
  const auto &k = o.kernel_size(), &s = o.stride(), &d = o.dilation();
  const auto* pad = var::get_if<torch::ExpandingArray<2>>(&o.padding());
  const bool plain = o.groups() == 1 && (*s)[0] == (*s)[1] && (*d)[0] == 1 && (*d)[1] == 1 && pad &&
                     (**pad)[0] == (**pad)[1] &&
                     var::holds_alternative<torch::enumtype::kZeros>(o.padding_mode()) &&
                     (*k)[0] == (*k)[1];
  // 8-bit weights dequantized, LoRA added: here, for this call only.
  const at::Tensor w = x.defined() ? layer_weight(layer->weight, x.scalar_type()) : layer->weight;
  const bool own_weight = !w.is_same(layer->weight);
  auto module_conv = [&](const at::Tensor& in) {
    if (!own_weight) return torch::nn::Conv2d(layer)->forward(in);
    if (!pad || !var::holds_alternative<torch::enumtype::kZeros>(o.padding_mode()))
      throw ShapeError("8-bit or adapted convolution weights need explicit zero padding");
    return at::conv2d(in, w, layer->bias, *s, **pad, *d, o.groups());
  };
  if (plain && x.defined() && x.scalar_type() == at::kBFloat16 && !needs_graph(x)) {
    at::Tensor y = kernels::onednn_conv2d(x, w, layer->bias, (*s)[0], (**pad)[0],
                                          /*persistent_weight=*/!own_weight);
    if (y.defined()) return y;
    // libtorch's bf16 convolution on channels-last input of a few pixels (the 4x4 level) ran at
    // 0.21 TFLOP/s against 0.58 on NCHW: hand it NCHW.
    return module_conv(x.contiguous());
  }
  return module_conv(x);
}

}  // namespace i2v::nn
