// The one-pass scaled softmax against at::softmax, for every input/output dtype pair.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "i2v/error.h"
#include "i2v/kernels/softmax.h"

namespace {

using i2v::kernels::scaled_softmax;
using i2v::kernels::softmax_exp_rows;

TEST(SoftmaxKernel, MatchesAtSoftmaxInEveryDtypePair) {
  at::manual_seed(0);
  for (int64_t n : {1, 7, 16, 33, 1000}) {
    at::Tensor x = at::randn({3, 5, n}) * 4;
    at::Tensor ref = at::softmax(x.to(at::kDouble) * 0.3, -1);
    at::Tensor y = scaled_softmax(x, 0.3, at::kFloat);
    EXPECT_EQ(y.scalar_type(), at::kFloat);
    EXPECT_LE((y.to(at::kDouble) - ref).abs().max().item<double>(), 1e-6) << n;
    at::Tensor yb = scaled_softmax(x, 0.3, at::kBFloat16);
    EXPECT_EQ(yb.scalar_type(), at::kBFloat16);
    EXPECT_TRUE(((yb.to(at::kDouble) - ref).abs() <= ref * (1.0 / 256) + 1e-7).all().item<bool>());
    // bf16 scores: the reference is the softmax of the same rounded scores.
    at::Tensor xb = x.to(at::kBFloat16);
    at::Tensor refb = at::softmax(xb.to(at::kDouble) * 0.3, -1);
    EXPECT_LE(
        (scaled_softmax(xb, 0.3, at::kFloat).to(at::kDouble) - refb).abs().max().item<double>(),
        1e-6);
  }
}

// The attention's row kernel (AVX-512 where the CPU has it, else the generic rows): float32
// scores to unnormalised bf16 exponentials and the rows' inverse sums, against float64, on row
// lengths with and without a 16-lane tail.
TEST(SoftmaxKernel, AttentionRowsMatchFloat64ForEveryRowLength) {
  at::manual_seed(3);
  for (int64_t n : {1, 8, 15, 16, 17, 145, 1024}) {
    const at::Tensor x = at::randn({6, n}) * 6;
    at::Tensor e = at::empty({6, n}, at::kBFloat16);
    at::Tensor inv = at::empty({6, 1}, at::kFloat);
    softmax_exp_rows(x.data_ptr<float>(), reinterpret_cast<uint16_t*>(e.data_ptr()),
                     inv.data_ptr<float>(), 6, n, 0.125f);
    const at::Tensor xd = x.to(at::kDouble) * 0.125;
    const at::Tensor ed = at::exp(xd - std::get<0>(xd.max(-1, true)));
    // One bf16 rounding of each exponential (2^-9 relative) and float32 noise.
    EXPECT_TRUE(((e.to(at::kDouble) - ed).abs() <= ed * (1.0 / 256) + 1e-7).all().item<bool>())
        << n;
    const at::Tensor inv_ref = 1.0 / ed.sum(-1, true);
    EXPECT_TRUE(((inv.to(at::kDouble) - inv_ref).abs() <= inv_ref * 1e-5).all().item<bool>()) << n;
    // Normalised, the probabilities of the general kernel, to one bf16 step.
    const at::Tensor probs = e.to(at::kDouble) * inv.to(at::kDouble);
    const at::Tensor general = scaled_softmax(x, 0.125, at::kBFloat16);
    EXPECT_LE((probs - general.to(at::kDouble)).abs().max().item<double>(),
              general.to(at::kDouble).max().item<double>() / 128)
        << n;
  }
  // A row with -inf entries (masked keys) and huge values: finite, the -inf ones exactly 0.
  const at::Tensor x = at::tensor({-INFINITY, 3000.0f, 2999.0f, -INFINITY}).view({1, 4});
  at::Tensor e = at::empty({1, 4}, at::kBFloat16);
  float inv = 0;
  softmax_exp_rows(x.data_ptr<float>(), reinterpret_cast<uint16_t*>(e.data_ptr()), &inv, 1, 4,
                   1.0f);
  EXPECT_TRUE(e.to(at::kFloat).isfinite().all().item<bool>());
  EXPECT_NEAR(e.to(at::kDouble).sum().item<double>() * inv, 1.0, 1.0 / 128);
  EXPECT_EQ(e[0][0].item<float>(), 0.0f);
  EXPECT_EQ(e[0][1].item<float>(), 1.0f);  // the row's maximum
}

TEST(SoftmaxKernel, LargeValuesStableAndStridedInput) {
  at::Tensor x = at::tensor({1000.0f, 1001.0f, -1000.0f}).view({1, 3});
  at::Tensor y = scaled_softmax(x, 1.0, at::kFloat);
  EXPECT_TRUE(at::allclose(y, at::softmax(x, -1)));
  at::Tensor t = at::randn({6, 4}).t();  // non-contiguous: copied first
  EXPECT_TRUE(at::allclose(scaled_softmax(t, 2.0, at::kFloat), at::softmax(t * 2, -1), 1e-5, 1e-6));
  EXPECT_THROW(scaled_softmax(x.to(at::kDouble), 1.0, at::kFloat), i2v::ShapeError);
}

}  // namespace
