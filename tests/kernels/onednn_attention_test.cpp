// The blocked oneDNN attention against float64 and against the plain bf16 path (bmm, softmax,
// bmm) on shapes that exercise its blocking: query-row blocks with a short last block, groups of
// whole entries with a short last group, key lengths that are not multiples of the tile size, a
// value width other than the key width, and strided (N, L, H, d) views as the attention layer
// passes them. Skipped in builds without I2V_WITH_ONEDNN.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>

#include "i2v/kernels/onednn_attention.h"
#include "support/attention_reference.h"

namespace {

using namespace i2v::kernels;

using i2v::test::attention_float64;
using i2v::test::attention_plain_bf16;
using i2v::test::max_relative_error;

struct Case {
  int64_t n, heads, lq, lk, d, dv;
};

TEST(OnednnAttention, MatchesFloat64AtLeastAsWellAsThePlainPath) {
  if (!onednn_attention_enabled()) GTEST_SKIP() << "built without the direct oneDNN path";
  const Case cases[] = {
      {2, 3, 700, 333, 64, 64},  // row blocks of one entry (700 x 333 > one block), short last
      {3, 5, 8, 8, 64, 64},      // temporal: many tiny entries per group, short last group
      {2, 2, 37, 77, 40, 24},    // odd sizes, dv != d
      {1, 1, 1, 1, 8, 8},        // one query, one key
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.n << "x" << c.heads << " lq " << c.lq << " lk " << c.lk
                                    << " d " << c.d << " dv " << c.dv);
    at::manual_seed(7);
    // (N, L, H, w) projections viewed as (N, H, L, w), as the attention layer hands them over.
    auto make = [&](int64_t l, int64_t w) {
      return at::randn({c.n, l, c.heads, w}).to(at::kBFloat16).transpose(1, 2);
    };
    const at::Tensor q = make(c.lq, c.d), k = make(c.lk, c.d), v = make(c.lk, c.dv);
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.d));
    const at::Tensor y = onednn_attention(q, k, v, scale);
    ASSERT_TRUE(y.defined());
    ASSERT_EQ(y.sizes(), (at::IntArrayRef{c.n, c.heads, c.lq, c.dv}));
    EXPECT_EQ(y.scalar_type(), at::kBFloat16);
    EXPECT_TRUE(y.transpose(1, 2).is_contiguous());  // (N, L, H, dv) memory: a free reshape
    const at::Tensor ref = attention_float64(q, k, v, scale);
    const double e_fused = max_relative_error(y, ref),
                 e_plain = max_relative_error(attention_plain_bf16(q, k, v, scale), ref);
    RecordProperty("fused_max_rel", std::to_string(e_fused));
    EXPECT_LT(e_fused, 1e-2);
    EXPECT_LE(e_fused, e_plain * 1.05 + 1e-6);  // float32 scores: never worse than bf16 ones
    // Deterministic: the same inputs give the same bits, whatever the thread split.
    EXPECT_TRUE(y.equal(onednn_attention(q, k, v, scale)));
  }
}

TEST(OnednnAttention, OneThreadGivesTheSameBits) {
  if (!onednn_attention_enabled()) GTEST_SKIP() << "built without the direct oneDNN path";
  at::manual_seed(8);
  auto make = [](int64_t l) { return at::randn({2, l, 4, 32}).to(at::kBFloat16).transpose(1, 2); };
  const at::Tensor q = make(300), k = make(500), v = make(500);
  const at::Tensor y = onednn_attention(q, k, v, 0.2);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const at::Tensor y1 = onednn_attention(q, k, v, 0.2);
  at::set_num_threads(threads);
  EXPECT_TRUE(y.equal(y1));
}

TEST(OnednnAttention, DeclinesWhatItDoesNotHandle) {
  const at::Tensor f = at::randn({1, 2, 4, 8});
  EXPECT_FALSE(onednn_attention(f, f, f, 1.0).defined());  // float32
  const at::Tensor b = f.to(at::kBFloat16);
  EXPECT_FALSE(onednn_attention(b[0], b[0], b[0], 1.0).defined());  // 3-D
  const at::Tensor k_bad = at::randn({1, 2, 4, 6}).to(at::kBFloat16);
  EXPECT_FALSE(onednn_attention(b, k_bad, b, 1.0).defined());  // d mismatch
  const at::Tensor g = b.clone().requires_grad_(true);
  EXPECT_FALSE(onednn_attention(g, b, b, 1.0).defined());  // a graph is being recorded
}

}  // namespace
