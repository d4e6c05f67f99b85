#include "i2v/nn/linear.h"

#include <ATen/ATen.h>

#include <vector>

#include "i2v/kernels/onednn_gemm.h"
#include "i2v/lora/trainable_adapters.h"
#include "i2v/nn/autograd.h"
#include "i2v/nn/layer_weight.h"

namespace i2v::nn {
namespace {

// A layer whose LoRA is being trained (lora/trainable_adapters.h).
at::Tensor trained_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                          const lora::TrainableAdapter& t) {
  if (t.weight_form)
    return at::linear(x, w + (at::mm(t.up, t.down) * t.scale).to(w.scalar_type()), b);
  const at::ScalarType dt = x.scalar_type();
  return at::linear(x, w, b) + at::linear(at::linear(x, t.down.to(dt)), t.up.to(dt)) * t.scale;
}

}  // namespace

at::Tensor linear(const torch::nn::Linear& layer, const at::Tensor& x) {
  if (!x.defined() || x.dim() < 2 || x.size(-1) != layer->weight.size(1))
    return torch::nn::Linear(layer)->forward(x);                      // its errors
  const at::Tensor w = layer_weight(layer->weight, x.scalar_type());  // 8-bit / LoRA: a copy
  const at::Tensor& b = layer->bias;
  if (lora::any_trainable_adapters()) {
    if (const lora::TrainableAdapter* t = lora::trainable_adapter(layer->weight))
      return trained_linear(x, w, b, *t);
  }
  if (needs_graph(x)) return at::linear(x, w, b);    // differentiable
  const at::Tensor x2 = x.reshape({-1, w.size(1)});  // a view for row-contiguous inputs
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = w.size(0);
  if (x2.scalar_type() == at::kBFloat16 && kernels::onednn_gemm_enabled()) {
    at::Tensor y = at::empty({x2.size(0), w.size(0)}, x2.options());
    if (kernels::onednn_gemm(x2, w, b, y, /*accumulate=*/false,
                             /*persistent_weight=*/w.is_same(layer->weight)))
      return y.view(shape);
  }
  at::Tensor y = b.defined() ? at::addmm(b, x2, w.t()) : at::mm(x2, w.t());
  return y.view(shape);
}

void linear_add_into(const torch::nn::Linear& layer, const at::Tensor& x, at::Tensor& residual) {
  if (needs_graph(x) || needs_graph(residual)) {
    add_into(residual, linear(layer, x));
    return;
  }
  const bool direct = x.defined() && x.dim() >= 2 && x.size(-1) == layer->weight.size(1) &&
                      x.scalar_type() == at::kBFloat16 && residual.defined() &&
                      residual.scalar_type() == at::kBFloat16 && residual.is_contiguous() &&
                      residual.numel() == x.numel() / x.size(-1) * layer->weight.size(0) &&
                      kernels::onednn_gemm_enabled() &&
                      !(lora::any_trainable_adapters() && lora::trainable_adapter(layer->weight));
  if (direct) {
    const at::Tensor w = layer_weight(layer->weight, x.scalar_type());
    const at::Tensor x2 = x.reshape({-1, w.size(1)});
    at::Tensor out = residual.view({-1, w.size(0)});
    if (kernels::onednn_gemm(x2, w, layer->bias, out, /*accumulate=*/true,
                             /*persistent_weight=*/w.is_same(layer->weight)))
      return;
  }
  add_into(residual, linear(layer, x));  // a trained adapter's product is out of place
}

void add_into(at::Tensor& residual, const at::Tensor& y) {
  if (needs_graph(y) || needs_graph(residual)) {
    residual = residual + y;
  } else {
    residual.add_(y);
  }
}

}  // namespace i2v::nn
