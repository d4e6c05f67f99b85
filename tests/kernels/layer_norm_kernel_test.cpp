// The fused LayerNorm kernel against at::layer_norm in float64.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "i2v/error.h"
#include "i2v/kernels/layer_norm.h"

namespace {

using i2v::kernels::layer_norm;

TEST(LayerNormKernel, MatchesFloat64ReferenceInFloat32AndBf16) {
  at::manual_seed(0);
  for (int64_t c : {1, 7, 16, 33, 320, 1280}) {
    at::Tensor x =
        at::randn({5, 9, c}) * 3 + 40;  // a large mean: the shift must prevent cancellation
    at::Tensor w = at::randn({c}), b = at::randn({c});
    const at::Tensor ref =
        at::layer_norm(x.to(at::kDouble), {c}, w.to(at::kDouble), b.to(at::kDouble), 1e-5);
    const at::Tensor y = layer_norm(x, w, b, 1e-5);
    EXPECT_EQ(y.scalar_type(), at::kFloat);
    EXPECT_LE((y.to(at::kDouble) - ref).abs().max().item<double>(), 2e-4) << c;
    const at::Tensor xb = x.to(at::kBFloat16);
    const at::Tensor yb = layer_norm(xb, w.to(at::kBFloat16).to(at::kFloat), b, 1e-5);
    EXPECT_EQ(yb.scalar_type(), at::kBFloat16);
    // One bf16 rounding of the output (w is exactly representable in the reference too).
    const at::Tensor refw = at::layer_norm(
        xb.to(at::kDouble), {c}, w.to(at::kBFloat16).to(at::kDouble), b.to(at::kDouble), 1e-5);
    EXPECT_TRUE(
        ((yb.to(at::kDouble) - refw).abs() <= refw.abs() * (1.0 / 128) + 1e-3).all().item<bool>())
        << c;
  }
}

TEST(LayerNormKernel, WithoutAffineAndStridedInput) {
  at::Tensor x = at::randn({64, 12}).t();  // (12, 64) non-contiguous
  EXPECT_TRUE(
      at::allclose(layer_norm(x, {}, {}, 1e-6), at::layer_norm(x, {64}, {}, {}, 1e-6), 1e-5, 1e-5));
  EXPECT_THROW(layer_norm(x, at::ones({3}), {}, 1e-5), i2v::ShapeError);
  EXPECT_THROW(layer_norm(x.to(at::kDouble), {}, {}, 1e-5), i2v::ShapeError);
}

}  // namespace
