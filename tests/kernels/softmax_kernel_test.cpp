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
using i2v::kernels::scaled_softmax_rows;

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
// scores to bf16 probabilities, against float64, on row lengths with and without a 16-lane tail.
TEST(SoftmaxKernel, AttentionRowsMatchFloat64ForEveryRowLength) {
  at::manual_seed(3);
  for (int64_t n : {1, 8, 15, 16, 17, 145, 1024}) {
    const at::Tensor x = at::randn({6, n}) * 6;
    at::Tensor y = at::empty({6, n}, at::kBFloat16);
    std::vector<float> buf(n);
    scaled_softmax_rows(x.data_ptr<float>(), reinterpret_cast<uint16_t*>(y.data_ptr()), 6, n,
                        0.125f, buf.data());
    const at::Tensor ref = at::softmax(x.to(at::kDouble) * 0.125, -1);
    // One bf16 rounding of each probability (2^-9 relative) and float32 noise.
    EXPECT_TRUE(((y.to(at::kDouble) - ref).abs() <= ref * (1.0 / 256) + 1e-7).all().item<bool>())
        << n;
    // The same probabilities as the general kernel, to one bf16 step.
    const at::Tensor general = scaled_softmax(x, 0.125, at::kBFloat16);
    EXPECT_LE((y.to(at::kDouble) - general.to(at::kDouble)).abs().max().item<double>(),
              ref.max().item<double>() / 128)
        << n;
  }
  // A row with -inf entries (masked keys) and huge values stays finite and sums to one.
  const at::Tensor x = at::tensor({-INFINITY, 3000.0f, 2999.0f, -INFINITY}).view({1, 4});
  at::Tensor y = at::empty({1, 4}, at::kBFloat16);
  std::vector<float> buf(4);
  scaled_softmax_rows(x.data_ptr<float>(), reinterpret_cast<uint16_t*>(y.data_ptr()), 1, 4, 1.0f,
                      buf.data());
  EXPECT_TRUE(y.to(at::kFloat).isfinite().all().item<bool>());
  EXPECT_NEAR(y.to(at::kDouble).sum().item<double>(), 1.0, 1.0 / 128);
  EXPECT_LT(y[0][0].item<float>(), 1e-30f);  // exp clamped at -87, as at every entry
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
