// References for the attention kernels' tests: the float64 attention, the plain bf16 path (bf16
// products, float32 softmax of bf16-rounded scores, bf16 probabilities) and the error measure.
// Header-only.
#pragma once

#include <ATen/ATen.h>

namespace i2v::test {

inline at::Tensor attention_float64(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                    double scale) {
  return at::matmul(
      at::softmax(at::matmul(q.to(at::kDouble), k.to(at::kDouble).transpose(-1, -2)) * scale, -1),
      v.to(at::kDouble));
}

inline at::Tensor attention_plain_bf16(const at::Tensor& q, const at::Tensor& k,
                                       const at::Tensor& v, double scale) {
  const at::Tensor s = at::matmul(q, k.transpose(-1, -2)).to(at::kFloat) * scale;
  return at::matmul(at::softmax(s, -1).to(at::kBFloat16), v);
}

// Largest error relative to the reference's largest magnitude.
inline double max_relative_error(const at::Tensor& y, const at::Tensor& ref) {
  return (y.to(at::kDouble) - ref).abs().max().item<double>() / ref.abs().max().item<double>();
}

}  // namespace i2v::test
