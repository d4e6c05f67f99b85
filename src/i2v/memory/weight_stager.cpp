#include "i2v/memory/weight_stager.h"

#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>

#include <algorithm>

#include "i2v/quant/dequantize.h"

namespace i2v::memory {

std::vector<at::Tensor> WeightStager::tensors_of(torch::nn::Module& m, bool recurse) {
  std::vector<at::Tensor> all = m.parameters(recurse);
  for (const auto& b : m.buffers(recurse)) all.push_back(b);
  return all;
}

bool WeightStager::needs(const at::Tensor& t) const {
  if (!t.defined()) return false;
  if (t.device() != options_.device) return true;
  // 8-bit weights stay 8-bit: they are dequantized where they are used (quant::weight_in).
  return t.is_floating_point() && t.scalar_type() != options_.dtype;
}

at::Tensor WeightStager::staged_copy(const at::Tensor& home, bool non_blocking) const {
  if (auto q = quant::quantization_of(home)) {
    // 8-bit weights travel as 8 bits (registered again on the device) and are dequantized where
    // they are used.
    at::Tensor bytes = home.to(options_.device, home.scalar_type(), non_blocking, /*copy=*/false);
    quant::mark_quantized(bytes, *q);
    return bytes.variable_data();
  }
  const at::ScalarType dtype = home.is_floating_point() ? options_.dtype : home.scalar_type();
  // variable_data(): a tensor of its own (the swap below must not follow it).
  return home.to(options_.device, dtype, non_blocking, /*copy=*/false).variable_data();
}

bool WeightStager::needs_staging(const torch::nn::Module& m) const {
  auto& mm = const_cast<torch::nn::Module&>(m);
  for (const auto& t : tensors_of(mm)) {
    if (needs(t)) return true;
  }
  return false;
}

bool WeightStager::stage(torch::nn::Module& m) {
  if (auto it = staged_.find(&m); it != staged_.end()) return !it->second.empty();
  std::vector<at::Tensor> tensors = tensors_of(m);
  std::vector<at::Tensor> copies;
  auto pending = prefetched_.find(&m);
  if (pending != prefetched_.end()) {
    // The copies were made on the side stream: the compute stream waits for them, and the
    // allocator learns that the compute stream uses their memory (no reuse before it is done).
    c10::impl::VirtualGuardImpl impl(options_.device.type());
    const c10::Stream compute = impl.getStream(options_.device);
    pending->second.ready->block(compute);
    copies = std::move(pending->second.copies);
    for (const auto& c : copies) {
      if (c.defined()) impl.recordDataPtrOnStream(c.storage().data_ptr(), compute);
    }
    prefetched_.erase(pending);
  } else {
    copies.reserve(tensors.size());
    for (const auto& t : tensors) copies.push_back(needs(t) ? staged_copy(t, false) : at::Tensor());
  }
  std::vector<Slot> slots;
  for (size_t i = 0; i < tensors.size() && i < copies.size(); ++i) {
    if (!copies[i].defined()) continue;
    slots.push_back({tensors[i], tensors[i].variable_data()});
    tensors[i].set_data(copies[i]);
  }
  const bool any = !slots.empty();
  staged_.emplace(&m, std::move(slots));
  return any;
}

void WeightStager::unstage(torch::nn::Module& m) {
  auto it = staged_.find(&m);
  if (it == staged_.end()) return;
  for (auto& slot : it->second) slot.handle.set_data(slot.home);
  staged_.erase(it);
}

void WeightStager::prefetch(torch::nn::Module& m) {
  if (!options_.prefetch || options_.device.is_cpu()) return;
  if (staged_.count(&m) || prefetched_.count(&m)) return;
  c10::impl::VirtualGuardImpl impl(options_.device.type());
  if (!side_stream_) side_stream_ = impl.getStreamFromGlobalPool(options_.device);
  Prefetched p;
  {
    c10::StreamGuard on_side(*side_stream_);
    for (const auto& t : tensors_of(m))
      p.copies.push_back(needs(t) ? staged_copy(t, /*non_blocking=*/true) : at::Tensor());
  }
  p.ready = std::make_shared<c10::Event>(options_.device.type());
  p.ready->record(*side_stream_);
  prefetched_.emplace(&m, std::move(p));
}

void WeightStager::drop_prefetches() {
  if (prefetched_.empty()) return;
  // Nothing may still write into memory about to be freed.
  if (side_stream_)
    c10::impl::VirtualGuardImpl(options_.device.type()).synchronizeStream(*side_stream_);
  prefetched_.clear();
}

void WeightStager::convert_in_place(torch::nn::Module& m, bool recurse) const {
  for (auto& t : tensors_of(m, recurse)) {
    if (needs(t)) t.set_data(staged_copy(t, false));
  }
}

void WeightStager::pin_home(torch::nn::Module& m) {
  for (auto& t : tensors_of(m)) {
    if (t.device().is_cpu() && !t.is_pinned()) t.set_data(t.pin_memory().variable_data());
  }
}

int64_t WeightStager::staged_bytes() const {
  auto bytes = [](const at::Tensor& t) {
    return t.defined() ? t.numel() * static_cast<int64_t>(t.element_size()) : int64_t{0};
  };
  int64_t n = 0;
  for (const auto& [m, slots] : staged_)
    for (const auto& slot : slots) n += bytes(slot.handle);  // the handle holds the staged copy
  for (const auto& [m, p] : prefetched_)
    for (const auto& c : p.copies) n += bytes(c);
  return n;
}

torch::nn::Module* BlockSchedule::next_after(const torch::nn::Module* m) const {
  auto it = std::find(order.begin(), order.end(), m);
  if (it == order.end() || order.empty()) return nullptr;
  ++it;
  return it == order.end() ? order.front() : *it;
}

}  // namespace i2v::memory
