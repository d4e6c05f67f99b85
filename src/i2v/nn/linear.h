// A torch::nn::Linear applied as one matrix product over all leading dims: libtorch 1.13's linear
// runs (N, L, in) inputs as matmul followed by a separate bias pass over the whole output; addmm
// on the flattened rows folds the bias into the product.
#pragma once

#include <ATen/Tensor.h>
#include <torch/nn/modules/linear.h>

namespace i2v::nn {

// x (..., in_features) -> (..., out_features); same values as layer->forward(x).
at::Tensor linear(const torch::nn::Linear& layer, const at::Tensor& x);

// residual += layer(x). Where the oneDNN path takes it (bf16, contiguous residual of x's leading
// shape), the product accumulates into residual's own memory: no output buffer and no separate
// add pass, and the sum is rounded once instead of twice. While an autograd graph runs through
// either tensor, residual is replaced by residual + layer(x) (a new tensor) instead.
void linear_add_into(const torch::nn::Linear& layer, const at::Tensor& x, at::Tensor& residual);

// residual += y in place; residual = residual + y (a new tensor) where an autograd graph runs
// through either, so that the graph keeps residual's old value.
void add_into(at::Tensor& residual, const at::Tensor& y);

}  // namespace i2v::nn
