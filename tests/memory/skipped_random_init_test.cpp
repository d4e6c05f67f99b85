#include "i2v/memory/skipped_random_init.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include <functional>
#include <thread>

#include "i2v/memory/construction_arena.h"

namespace i2v::memory {
namespace {

// The first draws after seeding: equal only when nothing drew from the generator in between.
at::Tensor draws_after_seed(int seed, const std::function<void()>& between) {
  at::manual_seed(seed);
  between();
  return at::rand({16});
}

TEST(SkippedRandomInit, ModuleConstructionDrawsNothingAndFillsNothing) {
  ASSERT_TRUE(SkippedRandomInit::available());
  const at::Tensor untouched_draws = draws_after_seed(7, [] {});
  at::Tensor filled = at::full({64}, 3.0f);
  torch::nn::Linear linear{nullptr};
  const at::Tensor draws = draws_after_seed(7, [&] {
    SkippedRandomInit skip;
    linear = torch::nn::Linear(64, 32);
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(8, 8, 3));
    torch::nn::Embedding embedding(100, 16);
    filled.uniform_(-1, 1);
    filled.normal_(0, 1);
  });
  EXPECT_TRUE(draws.equal(untouched_draws));
  EXPECT_TRUE(filled.eq(3.0f).all().item<bool>());
  // Everything else runs as usual under the guard.
  {
    SkippedRandomInit skip;
    const at::Tensor a = at::arange(6, at::kFloat).view({2, 3});
    EXPECT_TRUE(at::mm(a, a.t()).equal(at::tensor({5.0f, 14.0f, 14.0f, 50.0f}).view({2, 2})));
    const at::Tensor x = at::ones({3, 64});
    EXPECT_EQ(linear->forward(x).sizes(), (at::IntArrayRef{3, 32}));
  }
}

TEST(SkippedRandomInit, FillsRunAfterTheGuardAndOnOtherThreads) {
  at::Tensor other_thread = at::zeros({1000});
  {
    SkippedRandomInit skip;
    std::thread([&] { other_thread.uniform_(1, 2); }).join();  // the guard is this thread's
  }
  EXPECT_TRUE(other_thread.ge(1.0f).all().item<bool>());
  at::Tensor after = at::zeros({1000});
  after.uniform_(1, 2);
  EXPECT_TRUE(after.ge(1.0f).all().item<bool>());
  torch::nn::Linear linear(64, 32);  // initialised again: not all equal
  EXPECT_GT(linear->weight.std().item<float>(), 0.0f);
  const at::Tensor seeded = draws_after_seed(7, [] {});
  EXPECT_FALSE(draws_after_seed(7, [] { at::rand({1}); }).equal(seeded));  // the check can fail
}

TEST(SkippedRandomInit, AConstructionArenaSkipsTheFills) {
  const at::Tensor untouched_draws = draws_after_seed(11, [] {});
  const at::Tensor draws = draws_after_seed(11, [] {
    ConstructionArena arena;
    torch::nn::Linear linear(256, 256);
  });
  EXPECT_TRUE(draws.equal(untouched_draws));
}

}  // namespace
}  // namespace i2v::memory
