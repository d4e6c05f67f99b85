#include "i2v/memory/block_reuse.h"

#include <algorithm>

namespace i2v::memory {

void* BlockReuse::obtain(size_t n, size_t* size) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = kept_.lower_bound(n);
  if (it != kept_.end() && it->first <= n + n / 8) {
    *size = it->first;
    void* block = it->second;
    kept_.erase(it);
    stats_.cached_bytes -= static_cast<int64_t>(*size);
    stats_.in_use_bytes += static_cast<int64_t>(*size);
    stats_.peak_in_use_bytes = std::max(stats_.peak_in_use_bytes, stats_.in_use_bytes);
    ++stats_.hits;
    return block;
  }
  ++stats_.misses;
  const int64_t want = static_cast<int64_t>(n);
  // Keep in-use + kept <= max(peak in use, in use after this block).
  const int64_t ceiling = std::max(stats_.peak_in_use_bytes, stats_.in_use_bytes + want);
  while (!kept_.empty() && stats_.in_use_bytes + stats_.cached_bytes + want > ceiling) {
    evict_largest();
  }
  void* block = allocate_(n);
  if (!block && !kept_.empty()) {  // out of memory: give everything kept back, then retry
    while (!kept_.empty()) evict_largest();
    block = allocate_(n);
  }
  if (block) {
    *size = n;
    stats_.in_use_bytes += want;
    stats_.peak_in_use_bytes = std::max(stats_.peak_in_use_bytes, stats_.in_use_bytes);
  }
  if (settle_) {
    settle_(static_cast<size_t>(
        std::max<int64_t>(0, ceiling - stats_.in_use_bytes - stats_.cached_bytes)));
  }
  return block;
}

void BlockReuse::give_back(void* block, size_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.in_use_bytes -= static_cast<int64_t>(size);
  kept_.emplace(size, block);
  stats_.cached_bytes += static_cast<int64_t>(size);
}

void BlockReuse::release_all() {
  std::lock_guard<std::mutex> lock(mu_);
  while (!kept_.empty()) evict_largest();
  if (settle_) settle_(0);
  stats_.peak_in_use_bytes = stats_.in_use_bytes;
}

BlockReuseStats BlockReuse::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void BlockReuse::evict_largest() {
  auto last = std::prev(kept_.end());
  stats_.cached_bytes -= static_cast<int64_t>(last->first);
  free_(last->second, last->first);
  kept_.erase(last);
}

}  // namespace i2v::memory
