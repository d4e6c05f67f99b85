// The short-sequence attention kernel (temporal attention over frames) against float64 and the
// plain bf16 path, on (N, L, H, d) views as the attention layer passes them: 8 frames, lengths up
// to the 16 it takes, a single key, dv != d, the widest rows; and the calls it must refuse.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "i2v/kernels/short_attention.h"
#include "support/attention_reference.h"

namespace {

using namespace i2v::kernels;

using i2v::test::attention_float64;
using i2v::test::attention_plain_bf16;
using i2v::test::max_relative_error;

at::Tensor make(int64_t n, int64_t l, int64_t heads, int64_t w) {
  return (at::randn({n, l, heads, w}) * 2).to(at::kBFloat16).transpose(1, 2);  // (N, H, L, w)
}

struct Case {
  int64_t n, heads, lq, lk, d, dv;
};

TEST(ShortAttention, MatchesFloat64AtLeastAsWellAsThePlainPath) {
  if (!short_attention_enabled()) GTEST_SKIP() << "no AVX-512 here";
  const Case cases[] = {
      {37, 5, 8, 8, 64, 64},   // temporal attention: 8 frames, 5 heads of 64
      {2, 3, 16, 16, 32, 48},  // the longest it takes, dv != d
      {3, 2, 13, 5, 256, 16},  // the widest rows, more queries than keys
      {1, 1, 1, 1, 16, 16},    // one query, one key
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.n << "x" << c.heads << " lq " << c.lq << " lk " << c.lk
                                    << " d " << c.d << " dv " << c.dv);
    at::manual_seed(11);
    const at::Tensor q = make(c.n, c.lq, c.heads, c.d), k = make(c.n, c.lk, c.heads, c.d),
                     v = make(c.n, c.lk, c.heads, c.dv);
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.d));
    const at::Tensor y = short_attention(q, k, v, scale);
    ASSERT_TRUE(y.defined());
    ASSERT_EQ(y.sizes(), (at::IntArrayRef{c.n, c.heads, c.lq, c.dv}));
    EXPECT_EQ(y.scalar_type(), at::kBFloat16);
    EXPECT_TRUE(y.transpose(1, 2).is_contiguous());  // (N, L, H, dv) memory: a free reshape
    const at::Tensor ref = attention_float64(q, k, v, scale);
    const double e_short = max_relative_error(y, ref),
                 e_plain = max_relative_error(attention_plain_bf16(q, k, v, scale), ref);
    RecordProperty("short_max_rel", std::to_string(e_short));
    EXPECT_LT(e_short, 5e-3);                               // one bf16 rounding of the output
    EXPECT_LE(e_short, e_plain * 1.05 + 1e-6);              // float32 probabilities: never worse
    EXPECT_TRUE(y.equal(short_attention(q, k, v, scale)));  // deterministic
  }
}

TEST(ShortAttention, RefusesWhatItDoesNotTake) {
  if (!short_attention_enabled()) GTEST_SKIP() << "no AVX-512 here";
  const at::Tensor q = make(2, 8, 2, 64), k = make(2, 8, 2, 64), v = make(2, 8, 2, 64);
  EXPECT_TRUE(short_attention(q, k, v, 0.1).defined());
  EXPECT_FALSE(short_attention(make(2, 17, 2, 64), k, v, 0.1).defined());  // 17 queries
  EXPECT_FALSE(short_attention(q, make(2, 17, 2, 64), make(2, 17, 2, 64), 0.1).defined());
  EXPECT_FALSE(short_attention(make(2, 8, 2, 40), make(2, 8, 2, 40), v, 0.1).defined());  // d 40
  EXPECT_FALSE(short_attention(q.to(at::kFloat), k, v, 0.1).defined());                   // float32
  EXPECT_FALSE(short_attention(q.contiguous().transpose(2, 3), k, v, 0.1).defined());     // strides
  EXPECT_FALSE(short_attention(q, k, make(2, 7, 2, 64), 0.1).defined());  // lk mismatch
}

}  // namespace
