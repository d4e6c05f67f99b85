// Moving resident huge pages from freed blocks into new ones, instead of unmapping them and
// faulting (and zeroing) fresh ones in.
//
// Why: the block cache (block_reuse.h) keeps freed blocks for requests of about the same size, but
// when sizes change it must give kept blocks back before taking new ones (to stay under the in-use
// peak). Each 2 MiB of a new block is then a page fault plus the kernel zeroing 2 MiB: ~2,700 such
// faults (5.4 GB zeroed) per warm 256x256x8 generation. mremap moves a resident page's table entry
// to a new address in about a microsecond, without touching its 2 MiB. Exact: only the source of
// the pages changes; the contents of a new block are unspecified either way (tensors from
// at::empty).
//
// Linux only: elsewhere map() is a plain aligned anonymous mapping and nothing is kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace i2v::memory {

struct HugePageRecyclerStats {
  int64_t pooled_bytes = 0;  // pages held between recycle() and the next map() or release()
  int64_t moved_bytes = 0;   // pages map() moved into new blocks, all time
  int64_t fresh_bytes = 0;   // pages map() left to be faulted in, all time
};

class HugePageRecycler {
 public:
  static constexpr size_t kPage = size_t{2} << 20;

  // keep_pages false: recycle() unmaps at once (what recycling saves can be measured).
  explicit HugePageRecycler(bool keep_pages = true) : keep_pages_(keep_pages) {}
  HugePageRecycler(const HugePageRecycler&) = delete;
  HugePageRecycler& operator=(const HugePageRecycler&) = delete;
  ~HugePageRecycler() { release(); }

  // A kPage-aligned read-write mapping of `length` bytes (a multiple of kPage) marked for
  // transparent huge pages; its first pages are moved from the pool. nullptr when mmap fails.
  void* map(size_t length);
  // Takes a mapping map() returned; its pages stay resident in the pool for the next map().
  void recycle(void* mapping, size_t length);
  // Unmaps pooled pages until at most keep_bytes are left.
  void release(size_t keep_bytes = 0);
  HugePageRecyclerStats stats() const;

 private:
  const bool keep_pages_;
  mutable std::mutex mu_;
  std::vector<uintptr_t> pages_;  // pooled, kPage each, kPage-aligned
  HugePageRecyclerStats stats_;   // moved and fresh bytes (pooled: from pages_)
};

}  // namespace i2v::memory
