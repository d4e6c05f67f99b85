// Input checks shared by the layers, so that a wrongly shaped tensor is reported as a ShapeError
// naming the layer and both shapes instead of surfacing as an ATen error deep inside a kernel.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <string>

namespace i2v::nn {

// "(2, 32, 6, 10)".
std::string shape_string(const at::Tensor& t);

// x must be (N, channels, H, W).
void require_nchw(const at::Tensor& x, int64_t channels, const char* layer);

// x (B*F, C, H, W) with F = num_frames >= 1 dividing B*F; returns B.
int64_t require_frames(const at::Tensor& x, int64_t num_frames, const char* layer);

}  // namespace i2v::nn
