#include "i2v/lora/trainable_adapters.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace i2v::lora {
namespace {

std::mutex mutex;
std::unordered_map<const c10::TensorImpl*, std::unique_ptr<TrainableAdapter>> adapters;
std::atomic<size_t> attached{0};

}  // namespace

void attach_trainable(const at::Tensor& weight, TrainableAdapter adapter) {
  std::lock_guard<std::mutex> lock(mutex);
  adapters[weight.unsafeGetTensorImpl()] = std::make_unique<TrainableAdapter>(std::move(adapter));
  attached = adapters.size();
}

void detach_trainable(const at::Tensor& weight) {
  std::lock_guard<std::mutex> lock(mutex);
  adapters.erase(weight.unsafeGetTensorImpl());
  attached = adapters.size();
}

bool any_trainable_adapters() {
  return attached.load(std::memory_order_relaxed) > 0;
}

const TrainableAdapter* trainable_adapter(const at::Tensor& weight) {
  if (!any_trainable_adapters() || !weight.defined()) return nullptr;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = adapters.find(weight.unsafeGetTensorImpl());
  return it == adapters.end() ? nullptr : it->second.get();
}

}  // namespace i2v::lora
