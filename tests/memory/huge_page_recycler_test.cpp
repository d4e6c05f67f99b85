// Moving resident pages of freed blocks into new ones: the pages really move (their contents come
// along, nothing is zeroed), the rest of a larger mapping is fresh, the pool keeps only what it
// is allowed, and the counting allocator's block cache moves evicted blocks' pages.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cstdint>
#include <cstring>

#include "i2v/memory/huge_page_recycler.h"
#include "i2v/memory/memory_stats.h"

namespace i2v::memory {
namespace {

constexpr size_t kPage = HugePageRecycler::kPage;

// Writes i + 1 into the first word of the mapping's i-th page.
void mark_pages(void* mapping, size_t pages) {
  for (size_t i = 0; i < pages; ++i) static_cast<uint64_t*>(mapping)[i * kPage / 8] = i + 1;
}
uint64_t page_mark(void* mapping, size_t page) {
  return static_cast<uint64_t*>(mapping)[page * kPage / 8];
}

#ifdef __linux__
TEST(HugePageRecycler, MovesAFreedMappingsPagesInOrderIntoTheNextOne) {
  HugePageRecycler recycler;
  void* first = recycler.map(4 * kPage);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % kPage, 0u);
  mark_pages(first, 4);
  recycler.recycle(first, 4 * kPage);
  EXPECT_EQ(recycler.stats().pooled_bytes, int64_t(4 * kPage));

  void* second = recycler.map(2 * kPage);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(second) % kPage, 0u);
  // The first two pages of the freed mapping, moved: their contents came along.
  EXPECT_EQ(page_mark(second, 0), 1u);
  EXPECT_EQ(page_mark(second, 1), 2u);
  EXPECT_EQ(recycler.stats().moved_bytes, int64_t(2 * kPage));
  EXPECT_EQ(recycler.stats().pooled_bytes, int64_t(2 * kPage));

  // Larger than the pool: two moved pages, then fresh (zero) ones, all writable.
  void* third = recycler.map(5 * kPage);
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(page_mark(third, 0), 3u);
  EXPECT_EQ(page_mark(third, 1), 4u);
  for (size_t i = 2; i < 5; ++i) EXPECT_EQ(page_mark(third, i), 0u);
  std::memset(third, 7, 5 * kPage);
  const HugePageRecyclerStats s = recycler.stats();
  EXPECT_EQ(s.moved_bytes, int64_t(4 * kPage));
  EXPECT_EQ(s.fresh_bytes, int64_t((4 + 3) * kPage));
  EXPECT_EQ(s.pooled_bytes, 0);

  recycler.recycle(second, 2 * kPage);
  recycler.recycle(third, 5 * kPage);
  recycler.release();
  EXPECT_EQ(recycler.stats().pooled_bytes, 0);
}

TEST(HugePageRecycler, ReleaseKeepsAtMostTheAllowance) {
  HugePageRecycler recycler;
  void* a = recycler.map(5 * kPage);
  ASSERT_NE(a, nullptr);
  recycler.recycle(a, 5 * kPage);
  recycler.release(2 * kPage + 1);  // whole pages only
  EXPECT_EQ(recycler.stats().pooled_bytes, int64_t(2 * kPage));
  recycler.release(2 * kPage);
  EXPECT_EQ(recycler.stats().pooled_bytes, int64_t(2 * kPage));
  recycler.release(0);
  EXPECT_EQ(recycler.stats().pooled_bytes, 0);
  // Nothing pooled: the next mapping is all fresh.
  void* b = recycler.map(kPage);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(page_mark(b, 0), 0u);
  EXPECT_EQ(recycler.stats().moved_bytes, 0);
  recycler.recycle(b, kPage);
}

TEST(HugePageRecycler, WithoutKeepingPagesRecycleUnmaps) {
  HugePageRecycler recycler(/*keep_pages=*/false);
  void* a = recycler.map(2 * kPage);
  ASSERT_NE(a, nullptr);
  mark_pages(a, 2);
  recycler.recycle(a, 2 * kPage);
  EXPECT_EQ(recycler.stats().pooled_bytes, 0);
  void* b = recycler.map(2 * kPage);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(page_mark(b, 0), 0u);
  EXPECT_EQ(recycler.stats().moved_bytes, 0);
  recycler.recycle(b, 2 * kPage);
}

TEST(HugePageRecycler, TheBlockCacheMovesAnEvictedBlocksPagesIntoANewBlock) {
  ASSERT_TRUE(install_counting_allocator());
  if (std::getenv("I2V_HUGE_PAGES") || std::getenv("I2V_PAGE_RECYCLING") ||
      std::getenv("I2V_BLOCK_REUSE")) {
    GTEST_SKIP() << "page recycling switched by the environment";
  }
  release_cached_blocks();
  const int64_t moved = recycled_page_stats().moved_bytes;
  {
    at::Tensor big = at::empty({16 << 20}, at::kFloat);  // 64 MiB: sets the in-use peak
    big.fill_(1.0f);
  }
  // 40 MiB: the kept 64 MiB block is too large to hand out, and keeping both would pass the
  // peak, so it is evicted; its pages move into the new block instead of being unmapped.
  at::Tensor smaller = at::empty({10 << 20}, at::kFloat);
  EXPECT_GE(recycled_page_stats().moved_bytes - moved, int64_t{40} << 20);
  EXPECT_EQ(cached_block_stats().cached_bytes, 0);
  // What the pool still holds stays under the peak: 64 MiB (+ rounding to whole pages).
  EXPECT_LE(recycled_page_stats().pooled_bytes + (int64_t{40} << 20),
            (int64_t{64} << 20) + int64_t(2 * kPage));
  smaller.fill_(2.0f);
  EXPECT_EQ(smaller.sum().item<double>(), 2.0 * (10 << 20));
  smaller = at::Tensor();
  release_cached_blocks();
  EXPECT_EQ(recycled_page_stats().pooled_bytes, 0);
  EXPECT_EQ(cached_block_stats().cached_bytes, 0);
}
#endif

}  // namespace
}  // namespace i2v::memory
