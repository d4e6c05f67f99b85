// The operands both bf16 CPU attention kernels take (short_attention.h, onednn_attention.h):
// q (N, H, Lq, d), k (N, H, Lk, d), v (N, H, Lk, dv), bf16 CPU tensors outside autograd with a
// unit last stride and matching sizes. Internal to src/i2v/kernels.
#pragma once

#include <ATen/Tensor.h>

namespace i2v::kernels {

inline bool bf16_attention_operands(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  auto usable = [](const at::Tensor& t) {
    return t.defined() && t.dim() == 4 && t.scalar_type() == at::kBFloat16 && t.device().is_cpu() &&
           t.stride(3) == 1 && !t.requires_grad();
  };
  if (!usable(q) || !usable(k) || !usable(v)) return false;
  return k.size(0) == q.size(0) && v.size(0) == q.size(0) && k.size(1) == q.size(1) &&
         v.size(1) == q.size(1) && k.size(3) == q.size(3) && v.size(2) == k.size(2);
}

}  // namespace i2v::kernels
