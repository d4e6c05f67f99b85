// The one-pass scaled softmax against at::softmax, for every input/output dtype pair.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "i2v/error.h"
#include "i2v/kernels/softmax.h"

namespace {

using i2v::kernels::scaled_softmax;

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

TEST(SoftmaxKernel, LargeValuesStableAndStridedInput) {
  at::Tensor x = at::tensor({1000.0f, 1001.0f, -1000.0f}).view({1, 3});
  at::Tensor y = scaled_softmax(x, 1.0, at::kFloat);
  EXPECT_TRUE(at::allclose(y, at::softmax(x, -1)));
  at::Tensor t = at::randn({6, 4}).t();  // non-contiguous: copied first
  EXPECT_TRUE(at::allclose(scaled_softmax(t, 2.0, at::kFloat), at::softmax(t * 2, -1), 1e-5, 1e-6));
  EXPECT_THROW(scaled_softmax(x.to(at::kDouble), 1.0, at::kFloat), i2v::ShapeError);
}

}  // namespace
