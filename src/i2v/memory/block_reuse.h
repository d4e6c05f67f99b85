// Reuse of large freed CPU blocks, behind the counting allocator (memory_stats.cpp).
//
// Why: glibc serves every block over 32 MiB with a fresh mmap and gives it back on free, and
// trims the heap top after smaller frees, so each big activation is faulted in page by page
// again on every layer of every step. On a 2-vCPU VM a 4 KiB fault costs several microseconds:
// an element-wise add on 10 MiB ran 15 ms instead of 0.5 ms. Keeping freed blocks and handing
// them back for the next request of (about) the same size removes those faults. Exact: only
// where memory comes from changes, never what is computed.
//
// Memory bound: the blocks it keeps never take resident memory above the highest in-use total
// seen so far (blocks handed out + blocks kept <= peak of blocks handed out): before a new block
// is obtained, kept blocks are freed until the new one fits under that peak. So the cache does
// not raise a run's peak; it keeps the peak's pages instead of returning and re-faulting them.
// release_cached_blocks() (memory_stats.h) empties the process's cache: at stage boundaries,
// after a job, before an out-of-memory retry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>

namespace i2v::memory {

// Requests of at least this many bytes go through the cache; smaller ones go straight to the
// base allocator (glibc's own free lists serve them without faults).
constexpr size_t kReusableBlockMin = size_t{1} << 20;

struct BlockReuseStats {
  int64_t cached_bytes = 0;  // kept, free
  int64_t in_use_bytes = 0;  // handed out (block sizes, requests >= kReusableBlockMin)
  int64_t peak_in_use_bytes = 0;
  int64_t hits = 0, misses = 0;
};

class BlockReuse {
 public:
  using AllocateFn = void* (*)(size_t);
  using FreeFn = void (*)(void*, size_t);  // a block and the size it was obtained with
  // The base allocator may keep the pages of freed blocks to move them into the next blocks it
  // allocates (huge_page_recycler.h). Settling tells it how many bytes it may go on holding: what
  // the bound leaves after the blocks in use and kept. Called after every new block (the bound
  // minus what is in use and kept) and by release_all() (zero).
  using SettleFn = void (*)(size_t keep_bytes);
  BlockReuse(AllocateFn allocate, FreeFn free, SettleFn settle = nullptr)
      : allocate_(allocate), free_(free), settle_(settle) {}

  // A block of at least n bytes (its size in *size): a kept one of n .. n + n/8 bytes, else a new
  // one; nullptr when the base allocator fails even after every kept block was freed.
  void* obtain(size_t n, size_t* size);
  // Takes back a block obtain() returned.
  void give_back(void* block, size_t size);
  // Frees every kept block and makes the current in-use total the new peak.
  void release_all();
  BlockReuseStats stats() const;

 private:
  void evict_largest();  // with mu_ held

  AllocateFn allocate_;
  FreeFn free_;
  SettleFn settle_;
  mutable std::mutex mu_;
  std::multimap<size_t, void*> kept_;  // by size
  BlockReuseStats stats_;
};

}  // namespace i2v::memory
