// Nearest 2x upsampling followed by a 3x3 convolution (stride 1, padding 1) — every decoder
// upsampler — without making the upsampled tensor: output pixel (2i+a, 2j+b) reads only input
// pixels (i-1..i+1, j-1..j+1), and the taps that land on the same input pixel can be summed in
// the kernel first. So each of the 4 output phases (a, b) is a 2x2 convolution of the input, all 4
// run as one convolution with 4·O output channels (padding 1: (H+1)x(W+1) outputs), then
// interleaved. 16 instead of 36 multiply-adds per input pixel and output channel: 2.25x fewer.
//
// Not bit-identical: the summed taps are rounded once to the compute dtype (bf16: one more
// rounding of the weights, relative error 2^-9 of each summed tap). The float64 result equals the
// direct computation to rounding (tests/nn).
#pragma once

#include <ATen/ATen.h>

#include <functional>

namespace i2v::nn {

// (O, C, 3, 3) -> (4·O, C, 2, 2) in float32, phase-major (phase = 2a + b).
at::Tensor upsample_phase_kernels(const at::Tensor& w);

// conv(x, kernels, bias) must compute a stride-1 convolution with padding 1 (any output layout),
// or return an undefined tensor (then so does this). x: (N, C, H, W); w: (O, C, 3, 3); bias: (O)
// or undefined. Returns (N, O, 2H, 2W), channels-last. `persistent_weight`: w is the layer's own
// parameter, so while a kernels::PackedWeightScope is open the phase kernels are made once and
// kept (kernels::derived_weight) and are themselves persistent for `conv`.
using Conv2x2 = std::function<at::Tensor(const at::Tensor& x, const at::Tensor& kernels,
                                         const at::Tensor& bias)>;
at::Tensor upsample2x_conv3x3(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias,
                              const Conv2x2& conv, bool persistent_weight = false);

}  // namespace i2v::nn
