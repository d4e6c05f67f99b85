#include "i2v/lora/layer_adapter.h"

namespace i2v::lora {

at::Tensor with_deltas(const at::Tensor& w, const std::vector<LayerAdapter>& adapters) {
  // A fresh float32 copy: w may be float32 already and must not change.
  at::Tensor f = w.to(at::kFloat, /*non_blocking=*/false, /*copy=*/true).contiguous();
  at::Tensor rows = f.view({f.size(0), -1});
  for (const LayerAdapter& a : adapters) {
    if (a.scale == 0.0) continue;  // W + 0 = W: skip the product
    const at::Tensor up = a.up.to(f.device()), down = a.down.to(f.device());
    rows.addmm_(up, down, /*beta=*/1, /*alpha=*/a.scale);
  }
  return f.scalar_type() == w.scalar_type() ? f : f.to(w.scalar_type());
}

int64_t adapter_bytes(const ComponentAdapters& adapters) {
  int64_t n = 0;
  for (const auto& [name, list] : adapters)
    for (const LayerAdapter& a : list)
      n += a.up.numel() * a.up.element_size() + a.down.numel() * a.down.element_size();
  return n;
}

}  // namespace i2v::lora
