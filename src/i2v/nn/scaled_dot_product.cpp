#include "i2v/nn/scaled_dot_product.h"

#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "i2v/error.h"
#include "i2v/kernels/onednn_attention.h"
#include "i2v/kernels/short_attention.h"
#include "i2v/kernels/softmax.h"
#include "i2v/nn/autograd.h"
#include "i2v/nn/shape_check.h"

namespace i2v::nn {
namespace {

void check_inputs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const bool ok = q.defined() && k.defined() && v.defined() && q.dim() >= 2 && k.dim() == q.dim() &&
                  v.dim() == q.dim() &&
                  q.sizes().slice(0, q.dim() - 2) == k.sizes().slice(0, k.dim() - 2) &&
                  k.sizes().slice(0, k.dim() - 1) == v.sizes().slice(0, v.dim() - 1) &&
                  q.size(-1) == k.size(-1);
  if (!ok) {
    throw ShapeError(
        "scaled_dot_product: expected q (..., Lq, d), k (..., Lk, d), v (..., Lk, dv)"
        " with equal leading dims; got q " +
        shape_string(q) + ", k " + shape_string(k) + ", v " + shape_string(v));
  }
}

// softmax(q k^T * scale) v for one block, q/k/v (B, L, d). The two products run in the input
// dtype (bf16 products accumulate in float32 inside oneDNN, 2-3x faster than float32 products);
// the scaling and the softmax always run in float32.
at::Tensor attend_block(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                        double scale) {
  // bmm, not baddbmm(beta = 0): libtorch 1.13 may read the uninitialised output buffer there.
  at::Tensor scores = at::bmm(q, k.transpose(1, 2));
  if (scores.device().is_cpu() &&
      !needs_graph(scores)) {  // one pass: scale, float32 softmax, probabilities in v's dtype
    return at::bmm(kernels::scaled_softmax(scores, scale, v.scalar_type()), v);
  }
  if (scores.scalar_type() == at::kFloat) return at::bmm(at::softmax(scores.mul_(scale), -1), v);
  at::Tensor probs = at::softmax(scores.to(at::kFloat).mul_(scale), -1).to(v.scalar_type());
  return at::bmm(probs, v);
}

}  // namespace

at::Tensor scaled_dot_product(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              double scale) {
  RECORD_FUNCTION("i2v::attention", std::vector<c10::IValue>({q, k, v}));
  check_inputs(q, k, v);
  if (q.dim() == 4 && !needs_graph(q) && !needs_graph(k) && !needs_graph(v)) {
    // Short sequences (temporal attention over frames): one entry at a time in registers.
    at::Tensor short_seq = kernels::short_attention(q, k, v, scale);
    if (short_seq.defined()) return short_seq;
    // bf16 on oneDNN: blocked, the scores stay in cache (kernels/onednn_attention.h).
    at::Tensor fused = kernels::onednn_attention(q, k, v, scale);
    if (fused.defined()) return fused;
  }
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  return at::scaled_dot_product_attention(q, k, v, {}, 0.0, false, scale);
#elif TORCH_VERSION_MAJOR == 2
  const double default_scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  if (std::abs(scale - default_scale) <= 1e-12 * default_scale) {
    return at::scaled_dot_product_attention(q, k, v);
  }
#endif
  const int64_t lq = q.size(-2), lk = k.size(-2), d = q.size(-1), dv = v.size(-1);
  // Flatten the leading dims into one batch dim (views when q/k/v are contiguous there). Half
  // precision other than bf16 (CPU fp16 products are slow and lossy) computes in float32.
  const at::ScalarType dtype = q.scalar_type() == at::kBFloat16 ? q.scalar_type() : at::kFloat;
  const at::Tensor q3 = q.to(dtype).reshape({-1, lq, d});
  const at::Tensor k3 = k.to(dtype).reshape({-1, lk, d});
  const at::Tensor v3 = v.to(dtype).reshape({-1, lk, dv});
  const int64_t batch = q3.size(0);

  std::vector<int64_t> out_shape(q.sizes().begin(), q.sizes().end());
  out_shape.back() = dv;
  const int64_t budget = attention_score_budget();
  if (batch * lq * lk <= budget || batch == 0 || lq == 0 || lk == 0) {
    return attend_block(q3, k3, v3, scale).to(q.scalar_type()).view(out_shape);
  }

  // Blocks of whole batch entries when one entry fits, else of query rows within one entry:
  // each query row's softmax only needs its own scores, so the rows are independent.
  const int64_t per_entry = lq * lk;
  const int64_t entries = std::max<int64_t>(1, budget / per_entry);
  const int64_t rows = per_entry <= budget ? lq : std::max<int64_t>(1, budget / lk);
  at::Tensor out = at::empty({batch, lq, dv}, q.options());
  for (int64_t b0 = 0; b0 < batch; b0 += entries) {
    const int64_t nb = std::min(entries, batch - b0);
    const at::Tensor kb = k3.narrow(0, b0, nb), vb = v3.narrow(0, b0, nb);
    for (int64_t r0 = 0; r0 < lq; r0 += rows) {
      const int64_t nr = std::min(rows, lq - r0);
      out.narrow(0, b0, nb).narrow(1, r0, nr).copy_(
          attend_block(q3.narrow(0, b0, nb).narrow(1, r0, nr), kb, vb, scale));
    }
  }
  return out.view(out_shape);
}

}  // namespace i2v::nn
