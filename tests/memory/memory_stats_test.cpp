// The counting allocator, the enforced budget, byte parsing, mapped-weight release and the
// construction arena.
#include <gtest/gtest.h>

#include <torch/nn/modules/linear.h>

#include "i2v/io/safetensors.h"
#include "i2v/memory/construction_arena.h"
#include "i2v/memory/mapped_weights.h"
#include "i2v/memory/memory_stats.h"
#include "i2v/weights/state_dict.h"
#include "support/test_support.h"

namespace i2v::memory {
namespace {

TEST(CountingAllocator, CountsCurrentAndPeak) {
  ASSERT_TRUE(install_counting_allocator());
  ASSERT_TRUE(install_counting_allocator());  // idempotent
  const int64_t before = cpu_allocated_bytes();
  reset_cpu_peak();
  {
    at::Tensor t = at::empty({1 << 20}, at::kFloat);  // 4 MiB
    EXPECT_GE(cpu_allocated_bytes() - before, 4 << 20);
    at::Tensor u = at::empty({1 << 19}, at::kFloat);  // +2 MiB
    EXPECT_GE(cpu_peak_bytes() - before, 6 << 20);
  }
  EXPECT_EQ(cpu_allocated_bytes(), before);
  EXPECT_GE(cpu_peak_bytes() - before, 6 << 20);
  reset_cpu_peak();
  EXPECT_EQ(cpu_peak_bytes(), cpu_allocated_bytes());
}

TEST(CountingAllocator, TensorsWorkThroughIt) {
  ASSERT_TRUE(install_counting_allocator());
  const int64_t n = cpu_allocation_count();
  at::Tensor a = at::randn({64, 64});
  at::Tensor b = at::matmul(a, a.t());  // oneDNN/BLAS paths allocate through it too
  EXPECT_GT(cpu_allocation_count(), n);
  EXPECT_NEAR(b.diagonal().sum().item<double>(), (a * a).sum().item<double>(), 1e-2);
}

TEST(CountingAllocator, BudgetRefusesAndRecovers) {
  ASSERT_TRUE(install_counting_allocator());
  set_cpu_budget(cpu_allocated_bytes() + (8 << 20));
  at::Tensor ok = at::empty({1 << 20}, at::kFloat);
  EXPECT_THROW(at::empty({16 << 20}, at::kFloat), BudgetExceededError);
  set_cpu_budget(0);
  at::Tensor big = at::empty({16 << 20}, at::kFloat);  // allowed again
  EXPECT_EQ(big.numel(), 16 << 20);
}

TEST(MemoryStats, ParseAndFormatBytes) {
  EXPECT_EQ(parse_bytes("6GiB"), int64_t{6} << 30);
  EXPECT_EQ(parse_bytes("6 G"), int64_t{6} << 30);
  EXPECT_EQ(parse_bytes("512MiB"), int64_t{512} << 20);
  EXPECT_EQ(parse_bytes("1.5GiB"), int64_t{3} << 29);
  EXPECT_EQ(parse_bytes("1000"), 1000);
  EXPECT_THROW(parse_bytes("lots"), ConfigError);
  EXPECT_THROW(parse_bytes("6 parsecs"), ConfigError);
  EXPECT_THROW(parse_bytes("-1G"), ConfigError);
  EXPECT_EQ(format_bytes(int64_t{3} << 29), "1.50 GiB");
  EXPECT_GT(process_rss_bytes(), 0);
  EXPECT_GE(process_peak_rss_bytes(), process_rss_bytes() / 2);
}

// A 64 MiB weight loaded zero-copy: its pages count in RSS once read, and leave it on release.
TEST(MappedWeights, ReleaseDropsResidentPagesAndKeepsValues) {
  test::TempDir dir;
  const auto path = dir.path() / "w.safetensors";
  at::Tensor w = at::randn({4096, 4096});
  io::save_safetensors(path, {{"weight", w}, {"bias", at::randn({4096})}});
  torch::nn::Linear lin(4096, 4096);
  auto sd = weights::StateDict::open({path});
  weights::load_state_dict_strict(*lin, sd, "test");
  MappedWeights pages = MappedWeights::of(*lin);
  EXPECT_TRUE(pages.all_mapped());
  EXPECT_EQ(pages.mapped_bytes(), (4096 * 4096 + 4096) * 4);
  const double sum = lin->weight.sum().item<double>();  // reads every page
  const int64_t touched = process_rss_bytes();
  pages.release();
  const int64_t released = process_rss_bytes();
  EXPECT_GT(touched - released, 60 << 20) << "touched " << touched << " released " << released;
  EXPECT_DOUBLE_EQ(lin->weight.sum().item<double>(), sum);  // faults back, same bytes
  EXPECT_TRUE(lin->weight.equal(w));

  torch::nn::Linear copy(4, 4);  // ordinary memory is reported as unmapped
  EXPECT_FALSE(MappedWeights::of(*copy).all_mapped());
}

TEST(ConstructionArena, ConstructionCostsOneBlockAndLoadingReplacesAll) {
  test::TempDir dir;
  const auto path = dir.path() / "m.safetensors";
  torch::nn::Linear ref(1024, 2048);
  io::save_safetensors(path, {{"weight", ref->weight.detach()}, {"bias", ref->bias.detach()}});
  torch::nn::Linear lin{nullptr};
  {
    ConstructionArena arena;
    lin = torch::nn::Linear(1024, 2048);
    torch::nn::Linear other(1024, 2048);
    // Every allocation is the same block: construction costs only the largest tensor.
    EXPECT_EQ(lin->weight.data_ptr(), other->weight.data_ptr());
  }
  auto sd = weights::StateDict::open({path});
  weights::load_state_dict_strict(*lin, sd, "test");
  EXPECT_TRUE(lin->weight.equal(ref->weight));
  EXPECT_TRUE(lin->bias.equal(ref->bias));
  EXPECT_TRUE(MappedWeights::of(*lin).all_mapped());
  at::Tensor after = at::ones({8});  // the ordinary allocator is back
  EXPECT_EQ(after.sum().item<float>(), 8.0f);
}

}  // namespace
}  // namespace i2v::memory
