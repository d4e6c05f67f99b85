#include "i2v/memory/huge_page_recycler.h"

#include <cstdlib>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace i2v::memory {

#ifdef __linux__

void* HugePageRecycler::map(size_t length) {
  // Reserve an aligned range: map one page more, cut the unaligned head and tail off.
  void* p =
      mmap(nullptr, length + kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  const uintptr_t start = reinterpret_cast<uintptr_t>(p);
  const uintptr_t aligned = (start + kPage - 1) / kPage * kPage;
  if (aligned > start) munmap(p, aligned - start);
  const size_t tail = start + length + kPage - (aligned + length);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + length), tail);
  madvise(reinterpret_cast<void*>(aligned), length, MADV_HUGEPAGE);

  std::lock_guard<std::mutex> lock(mu_);
  size_t filled = 0;
  // Page by page: a pooled range may span several kernel mappings (blocks built from pages of
  // different origins), and mremap moves within one mapping only; any 2 MiB page lies in one.
  while (filled < length && !pages_.empty()) {
    const uintptr_t page = pages_.back();
    pages_.pop_back();
    void* to = reinterpret_cast<void*>(aligned + filled);
    // Replaces the reserved (not yet faulted) page at `to`.
    if (mremap(reinterpret_cast<void*>(page), kPage, kPage, MREMAP_MAYMOVE | MREMAP_FIXED, to) ==
        MAP_FAILED) {
      munmap(reinterpret_cast<void*>(page), kPage);  // e.g. the mapping count limit: fault anew
      break;
    }
    filled += kPage;
  }
  stats_.moved_bytes += static_cast<int64_t>(filled);
  stats_.fresh_bytes += static_cast<int64_t>(length - filled);
  return reinterpret_cast<void*>(aligned);
}

void HugePageRecycler::recycle(void* mapping, size_t length) {
  if (!keep_pages_) {
    munmap(mapping, length);
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  const uintptr_t start = reinterpret_cast<uintptr_t>(mapping);
  // Back to front, so map() (which takes from the back) moves a block's pages in address order
  // and the kernel can merge them into one mapping again.
  for (size_t off = length; off >= kPage; off -= kPage) pages_.push_back(start + off - kPage);
}

void HugePageRecycler::release(size_t keep_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  const size_t keep = keep_bytes / kPage;
  // The front holds the pages recycled first (the back is taken first): unmap from the front.
  if (pages_.size() <= keep) return;
  const size_t drop = pages_.size() - keep;
  for (size_t i = 0; i < drop; ++i) munmap(reinterpret_cast<void*>(pages_[i]), kPage);
  pages_.erase(pages_.begin(), pages_.begin() + static_cast<std::ptrdiff_t>(drop));
}

#else

void* HugePageRecycler::map(size_t length) {
  void* p = std::aligned_alloc(kPage, length);
  std::lock_guard<std::mutex> lock(mu_);
  if (p) stats_.fresh_bytes += static_cast<int64_t>(length);
  return p;
}

void HugePageRecycler::recycle(void* mapping, size_t) {
  std::free(mapping);
}

void HugePageRecycler::release(size_t) {}

#endif

HugePageRecyclerStats HugePageRecycler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  HugePageRecyclerStats s = stats_;
  s.pooled_bytes = static_cast<int64_t>(pages_.size() * kPage);
  return s;
}

}  // namespace i2v::memory
