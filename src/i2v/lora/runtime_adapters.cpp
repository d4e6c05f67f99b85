#include "i2v/lora/runtime_adapters.h"

#include <atomic>
#include <mutex>
#include <unordered_map>

namespace i2v::lora {
namespace {

struct Entry {
  std::shared_ptr<const std::vector<LayerAdapter>> adapters;
  bool suspended = false;
};

std::mutex mutex;
std::unordered_map<const c10::TensorImpl*, Entry> entries;
std::atomic<size_t> attached{0};

}  // namespace

void attach_runtime(const at::Tensor& param, std::vector<LayerAdapter> adapters) {
  std::lock_guard<std::mutex> lock(mutex);
  entries[param.unsafeGetTensorImpl()] = {
      std::make_shared<const std::vector<LayerAdapter>>(std::move(adapters)), false};
  attached = entries.size();
}

void detach_runtime(const at::Tensor& param) {
  std::lock_guard<std::mutex> lock(mutex);
  entries.erase(param.unsafeGetTensorImpl());
  attached = entries.size();
}

bool any_runtime_adapters() {
  return attached.load(std::memory_order_relaxed) > 0;
}

std::shared_ptr<const std::vector<LayerAdapter>> runtime_adapters(const at::Tensor& param) {
  if (!any_runtime_adapters() || !param.defined()) return nullptr;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = entries.find(param.unsafeGetTensorImpl());
  if (it == entries.end() || it->second.suspended) return nullptr;
  return it->second.adapters;
}

void set_suspended(const at::Tensor& param, bool suspended) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = entries.find(param.unsafeGetTensorImpl());
  if (it != entries.end()) it->second.suspended = suspended;
}

}  // namespace i2v::lora
