#include "i2v/quant/quantized_weight.h"

#include <c10/util/intrusive_ptr.h>

#include <map>
#include <mutex>
#include <string>

#include "i2v/error.h"

namespace i2v::quant {
namespace {

struct Entry {
  // Weak: holds the StorageImpl object (so its address is not reused) but not its data.
  c10::weak_intrusive_ptr<c10::StorageImpl> storage;
  QuantizedWeight info;
};

struct Registry {
  std::mutex mutex;
  // Keyed by the data pointer: a storage may hold several weights only if they were marked
  // at their own offsets.
  std::map<const void*, Entry> entries;
  size_t marks_since_prune = 0;

  void prune() {
    for (auto it = entries.begin(); it != entries.end();)
      it = it->second.storage.expired() ? entries.erase(it) : std::next(it);
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

at::ScalarType holding_dtype(WeightFormat f) {
  return f == WeightFormat::Int8 ? at::kChar : at::kByte;
}

void mark_quantized(const at::Tensor& q, QuantizedWeight info) {
  if (!q.defined() || q.dim() < 1) throw ShapeError("an 8-bit weight needs at least one dimension");
  if (q.scalar_type() != holding_dtype(info.format)) {
    throw ShapeError("a " + to_string(info.format) + " weight must be held as " +
                     std::string(c10::toString(holding_dtype(info.format))) + ", not " +
                     c10::toString(q.scalar_type()));
  }
  if (!info.scale.defined() || info.scale.numel() != q.size(0)) {
    throw ShapeError("an 8-bit weight with " + std::to_string(q.size(0)) +
                     " output channels needs as many scales, not " +
                     std::to_string(info.scale.defined() ? info.scale.numel() : 0));
  }
  info.scale = info.scale.to(at::kCPU, at::kFloat).reshape({q.size(0)}).contiguous();
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (++r.marks_since_prune >= 256) {
    r.prune();
    r.marks_since_prune = 0;
  }
  r.entries.erase(q.data_ptr());
  r.entries.emplace(q.data_ptr(), Entry{q.storage().getWeakStorageImpl(), std::move(info)});
}

std::optional<QuantizedWeight> quantization_of(const at::Tensor& t) {
  if (!t.defined() || (t.scalar_type() != at::kChar && t.scalar_type() != at::kByte) ||
      !t.has_storage())
    return std::nullopt;
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.entries.find(t.data_ptr());
  if (it == r.entries.end()) return std::nullopt;
  // The same live storage: a freed one's address may have been reused by another tensor.
  if (it->second.storage.expired() ||
      it->second.storage._unsafe_get_target() != t.storage().unsafeGetStorageImpl()) {
    if (it->second.storage.expired()) r.entries.erase(it);
    return std::nullopt;
  }
  return it->second.info;
}

}  // namespace i2v::quant
