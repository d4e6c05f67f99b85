// Reuse of freed large blocks: hits, the size tolerance, the bound (kept + in use never above the
// in-use peak), the out-of-memory retry, and the process cache behind the counting allocator.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cstdlib>
#include <vector>

#include "i2v/memory/block_reuse.h"
#include "i2v/memory/memory_stats.h"

namespace i2v::memory {
namespace {

struct FakeHeap {
  static inline int allocations = 0, frees = 0, fail_next = 0;
  static inline int64_t resident = 0, peak_resident = 0;
  static void* allocate(size_t n) {
    if (fail_next > 0) {
      --fail_next;
      return nullptr;
    }
    ++allocations;
    auto* p = static_cast<size_t*>(std::malloc(n < 16 ? 16 : n));
    p[0] = n;
    resident += static_cast<int64_t>(n);
    peak_resident = std::max(peak_resident, resident);
    return p;
  }
  static void free(void* p, size_t) {
    ++frees;
    resident -= static_cast<int64_t>(static_cast<size_t*>(p)[0]);
    std::free(p);
  }
  static void reset() { allocations = frees = fail_next = 0, resident = peak_resident = 0; }
};

TEST(BlockReuse, HandsBackAFreedBlockOfTheSameSize) {
  FakeHeap::reset();
  BlockReuse cache(&FakeHeap::allocate, &FakeHeap::free);
  size_t size = 0;
  void* a = cache.obtain(1000, &size);
  EXPECT_EQ(size, 1000u);
  cache.give_back(a, size);
  void* b = cache.obtain(1000, &size);
  EXPECT_EQ(b, a);
  EXPECT_EQ(FakeHeap::allocations, 1);
  EXPECT_EQ(cache.stats().hits, 1);
  cache.give_back(b, size);
  cache.release_all();
  EXPECT_EQ(FakeHeap::frees, 1);
  EXPECT_EQ(cache.stats().cached_bytes, 0);
}

TEST(BlockReuse, ReusesOnlyBlocksAtMostAnEighthLarger) {
  FakeHeap::reset();
  BlockReuse cache(&FakeHeap::allocate, &FakeHeap::free);
  size_t s1 = 0, s2 = 0, s0 = 0;
  void* big = cache.obtain(4000, &s0);  // keeps the in-use peak above what the test keeps
  void* a = cache.obtain(1200, &s1);
  cache.give_back(big, s0);
  cache.give_back(a, s1);
  void* b = cache.obtain(1000, &s2);  // 1200 > 1000 + 125: a new block
  EXPECT_NE(b, a);
  EXPECT_EQ(s2, 1000u);
  cache.give_back(b, s2);
  void* c = cache.obtain(1100, &s2);  // 1200 <= 1100 + 137: the kept 1200-byte block
  EXPECT_EQ(c, a);
  EXPECT_EQ(s2, 1200u);
  cache.give_back(c, s2);
  cache.release_all();
  EXPECT_EQ(FakeHeap::resident, 0);
}

TEST(BlockReuse, KeepsResidentMemoryUnderTheInUsePeak) {
  FakeHeap::reset();
  BlockReuse cache(&FakeHeap::allocate, &FakeHeap::free);
  // Layer-like sizes that repeat, mixed with one that grows every round: without eviction the
  // kept blocks of the growing size would pile up.
  std::vector<std::pair<void*, size_t>> live;
  int64_t in_use_peak = 0, in_use = 0;
  for (int round = 0; round < 20; ++round) {
    for (size_t n : {3000u, 3000u, 500u, 3000u, 7000u + 1000u * round, 500u, 3000u}) {
      size_t size = 0;
      void* p = cache.obtain(n, &size);
      ASSERT_NE(p, nullptr);
      live.emplace_back(p, size);
      in_use += static_cast<int64_t>(size);
      in_use_peak = std::max(in_use_peak, in_use);
      EXPECT_LE(FakeHeap::resident, in_use_peak);
      if (live.size() > 2) {  // free the oldest, keep two alive
        cache.give_back(live.front().first, live.front().second);
        in_use -= static_cast<int64_t>(live.front().second);
        live.erase(live.begin());
      }
    }
  }
  EXPECT_LE(FakeHeap::peak_resident, in_use_peak);
  EXPECT_GT(cache.stats().hits, 0);
  for (auto& [p, s] : live) cache.give_back(p, s);
  cache.release_all();
  EXPECT_EQ(FakeHeap::resident, 0);
}

// The base allocator may hold freed pages (to move them into new blocks); what the cache lets it
// hold keeps blocks in use + kept + held under the in-use peak, and release_all() lets it hold
// nothing.
TEST(BlockReuse, LetsTheBaseAllocatorHoldOnlyWhatTheBoundLeaves) {
  FakeHeap::reset();
  static int64_t allowance = -1;
  BlockReuse cache(&FakeHeap::allocate, &FakeHeap::free,
                   [](size_t keep) { allowance = static_cast<int64_t>(keep); });
  size_t s_big = 0, s_small = 0, s_mid = 0;
  void* big = cache.obtain(8000, &s_big);
  EXPECT_EQ(allowance, 0);  // a new peak: nothing to spare
  cache.give_back(big, s_big);
  void* small = cache.obtain(1000, &s_small);  // evicts the kept 8000: 7000 may stay held
  EXPECT_EQ(cache.stats().cached_bytes, 0);
  EXPECT_EQ(allowance, 7000);
  void* mid = cache.obtain(3000, &s_mid);
  EXPECT_EQ(allowance, 4000);
  EXPECT_LE(cache.stats().in_use_bytes + cache.stats().cached_bytes + allowance,
            cache.stats().peak_in_use_bytes);
  cache.give_back(small, s_small);
  cache.give_back(mid, s_mid);
  cache.release_all();
  EXPECT_EQ(allowance, 0);
}

TEST(BlockReuse, GivesKeptBlocksBackWhenTheHeapRunsOut) {
  FakeHeap::reset();
  BlockReuse cache(&FakeHeap::allocate, &FakeHeap::free);
  size_t size = 0, size2 = 0;
  void* a = cache.obtain(4000, &size);
  void* a2 = cache.obtain(4000, &size2);
  cache.give_back(a, size);
  cache.give_back(a2, size2);
  FakeHeap::fail_next = 1;  // the first try fails: the kept blocks are freed and it tries again
  void* b = cache.obtain(100, &size);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(FakeHeap::frees, 2);
  EXPECT_EQ(cache.stats().cached_bytes, 0);
  cache.give_back(b, size);
  cache.release_all();
  FakeHeap::fail_next = 1;  // fails with nothing left to free: nullptr, the caller reports it
  EXPECT_EQ(cache.obtain(100, &size), nullptr);
}

TEST(BlockReuse, TheCountingAllocatorReusesLargeTensorBlocks) {
  ASSERT_TRUE(install_counting_allocator());
  release_cached_blocks();
  const int64_t hits = cached_block_stats().hits;
  void* first = nullptr;
  {
    at::Tensor t = at::empty({4 << 20}, at::kFloat);  // 16 MiB
    first = t.data_ptr();
  }
  EXPECT_GE(cached_block_stats().cached_bytes, int64_t{16} << 20);
  at::Tensor again = at::empty({4 << 20}, at::kFloat);
  EXPECT_EQ(again.data_ptr(), first);
  EXPECT_EQ(cached_block_stats().hits, hits + 1);
  again.fill_(1.0f);
  EXPECT_EQ(again.sum().item<double>(), double(4 << 20));
  again = at::Tensor();
  release_cached_blocks();
  EXPECT_EQ(cached_block_stats().cached_bytes, 0);
}

}  // namespace
}  // namespace i2v::memory
