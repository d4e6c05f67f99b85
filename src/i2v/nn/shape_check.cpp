#include "i2v/nn/shape_check.h"

#include "i2v/error.h"

namespace i2v::nn {

std::string shape_string(const at::Tensor& t) {
  if (!t.defined()) return "(undefined)";
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}

void require_nchw(const at::Tensor& x, int64_t channels, const char* layer) {
  if (!x.defined() || x.dim() != 4 || x.size(1) != channels) {
    throw ShapeError(std::string(layer) + ": expected input (N, " + std::to_string(channels) +
                     ", H, W), got " + shape_string(x));
  }
}

int64_t require_frames(const at::Tensor& x, int64_t num_frames, const char* layer) {
  if (num_frames < 1 || x.size(0) % num_frames != 0) {
    throw ShapeError(std::string(layer) + ": batch*frames " + std::to_string(x.size(0)) +
                     " of input " + shape_string(x) + " is not a multiple of num_frames " +
                     std::to_string(num_frames));
  }
  return x.size(0) / num_frames;
}

}  // namespace i2v::nn
