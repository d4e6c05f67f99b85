// A torch::nn::Conv2d applied through i2v's oneDNN convolution where it qualifies (bf16 on a CPU
// with the direct oneDNN build; see kernels/onednn_conv.h), else through the module itself.
#pragma once

#include <ATen/Tensor.h>
#include <torch/nn/modules/conv.h>

namespace i2v::nn {

// Same values as layer->forward(x) up to float32 summation order. The result may be
// channels-last when x is bf16: read it with reshape/contiguous, not view.
at::Tensor conv2d(const torch::nn::Conv2d& layer, const at::Tensor& x);

// Whether `layer` is a kernel x kernel convolution with this stride and zero padding, dilation 1
// and one group.
bool conv_is(const torch::nn::Conv2d& layer, int64_t kernel, int64_t stride, int64_t padding);

}  // namespace i2v::nn
