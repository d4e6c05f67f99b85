// Timings of the attention path at a realistic size (disabled by default; run with
// --gtest_also_run_disabled_tests). Also checks that chunking does not change the result there.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>

#include "i2v/nn/feed_forward.h"
#include "i2v/nn/scaled_dot_product.h"
#include "i2v/nn/transformer_2d.h"

namespace i2v::nn {
namespace {

template <class F>
double seconds(F f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// One frame pair of the official UNet's first spatial attention at 352x640 output (44x80 latents
// = 3520 positions, 5 heads of 64): the score matrix is 2*5*3520^2 = 124 M elements (496 MB).
TEST(NnTiming, DISABLED_SpatialAttention3520Positions) {
  c10::NoGradGuard ng;
  at::manual_seed(0);
  at::Tensor q = at::randn({2, 5, 3520, 64}), k = at::randn({2, 5, 3520, 64});
  at::Tensor v = at::randn({2, 5, 3520, 64});
  const int64_t saved = attention_score_budget();
  at::Tensor whole;
  set_attention_score_budget(int64_t{1} << 30);
  double t_whole = seconds([&] { whole = scaled_dot_product(q, k, v, 0.125); });
  for (int64_t budget : {int64_t{1} << 26, int64_t{1} << 22, int64_t{1} << 20, int64_t{1} << 18}) {
    set_attention_score_budget(budget);
    at::Tensor out;
    double t = seconds([&] { out = scaled_dot_product(q, k, v, 0.125); });
    std::printf("[ timing ] attention fp32, budget %lld: %.3f s (whole: %.3f s)\n",
                static_cast<long long>(budget), t, t_whole);
    EXPECT_LE((out - whole).abs().max().item<double>(), 1e-5);
  }
  set_attention_score_budget(int64_t{1} << 20);
  at::Tensor qb = q.to(at::kBFloat16), kb = k.to(at::kBFloat16), vb = v.to(at::kBFloat16);
  double tb = seconds([&] { scaled_dot_product(qb, kb, vb, 0.125); });
  std::printf("[ timing ] attention bf16 in/out, budget 2^20: %.3f s\n", tb);
  set_attention_score_budget(saved);
}

// Feed-forward of the level-0 blocks (320 -> GEGLU 2560 -> 320) over 2 x 44x80 tokens.
TEST(NnTiming, DISABLED_FeedForward320) {
  c10::NoGradGuard ng;
  at::manual_seed(0);
  const int64_t saved = feed_forward_budget();
  FeedForward ff(320);
  at::Tensor x = at::randn({2, 3520, 320});
  for (int64_t budget : {int64_t{1} << 26, int64_t{1} << 22, int64_t{1} << 20, int64_t{1} << 18}) {
    set_feed_forward_budget(budget);
    double t = seconds([&] { ff->forward(x); });
    std::printf("[ timing ] feed-forward 320, 7040 tokens, budget %lld: %.3f s\n",
                static_cast<long long>(budget), t);
  }
  set_feed_forward_budget(saved);
}

// The official UNet's level-0 spatial transformer (320 channels, 5 heads of 64, 1024-dim context of
// 145 tokens) on two 44x80 latent frames, default initialisation.
TEST(NnTiming, DISABLED_SpatialTransformer320At44x80) {
  c10::NoGradGuard ng;
  at::manual_seed(0);
  Transformer2DModel t(320, 5, 64, 1024, 32);
  at::Tensor x = at::randn({2, 320, 44, 80}), ctx = at::randn({2, 145, 1024});
  double t32 = seconds([&] { t->forward(x, ctx); });
  t->to(at::kBFloat16);
  at::Tensor xb = x.to(at::kBFloat16), cb = ctx.to(at::kBFloat16);
  double t16 = seconds([&] { t->forward(xb, cb); });
  std::printf("[ timing ] spatial transformer 320ch, 2 x 44x80: fp32 %.3f s, bf16 %.3f s\n", t32,
              t16);
}

}  // namespace
}  // namespace i2v::nn
