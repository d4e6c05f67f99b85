// The fused GEGLU / GELU kernels against a float64 reference built from at::gelu.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "i2v/error.h"
#include "i2v/kernels/gated_gelu.h"

namespace {

using i2v::kernels::gated_gelu;

at::Tensor reference(const at::Tensor& h) {
  auto parts = h.to(at::kDouble).chunk(2, -1);
  return parts[0] * at::gelu(parts[1]);
}

TEST(GatedGeluKernel, MatchesValueTimesExactGeluInFloat32) {
  at::manual_seed(0);
  for (int64_t inner : {1, 5, 16, 37, 1280}) {
    at::Tensor h = at::randn({3, 7, 2 * inner}) * 3;
    at::Tensor y = gated_gelu(h);
    ASSERT_EQ(y.sizes(), (std::vector<int64_t>{3, 7, inner}));
    EXPECT_EQ(y.scalar_type(), at::kFloat);
    const at::Tensor ref = reference(h);
    EXPECT_LE((y.to(at::kDouble) - ref).abs().max().item<double>(),
              1e-6 * (1 + ref.abs().max().item<double>()))
        << inner;
  }
}

// Rows of whole 16-lane vectors and with tails (the AVX-512 path where the CPU has it).
TEST(GatedGeluKernel, Bfloat16RoundsOnceAtTheEnd) {
  at::manual_seed(1);
  for (int64_t inner : {1, 17, 320, 1283}) {
    at::Tensor h = (at::randn({64, 2 * inner}) * 4).to(at::kBFloat16);
    at::Tensor y = gated_gelu(h);
    EXPECT_EQ(y.scalar_type(), at::kBFloat16);
    const at::Tensor ref = reference(h);  // exact inputs: only the output rounding differs
    EXPECT_TRUE(
        ((y.to(at::kDouble) - ref).abs() <= ref.abs() * (1.0 / 256) + 1e-6).all().item<bool>())
        << inner;
  }
  // Extreme gates in bf16, 16 of them (one vector): the same as float32's exact GELU, rounded.
  at::Tensor gate = at::tensor({-100.0f, -8.0f, -1e-3f, 0.0f, 1e-3f, 8.0f, 100.0f, 1e30f, -1e30f,
                                INFINITY, 3.0f, -3.0f, 0.5f, -0.5f, 1e-30f, 6.0f});
  at::Tensor h = at::cat({at::ones_like(gate), gate}, 0).to(at::kBFloat16);
  const at::Tensor expected = at::gelu(gate.to(at::kBFloat16).to(at::kFloat)).to(at::kBFloat16);
  EXPECT_TRUE(gated_gelu(h).equal(expected)) << gated_gelu(h) << expected;
}

TEST(GatedGeluKernel, ExtremeAndSpecialValues) {
  at::Tensor gate = at::tensor({-100.0f, -8.0f, -1e-3f, 0.0f, 1e-3f, 8.0f, 100.0f, 1e30f});
  at::Tensor h = at::cat({at::ones_like(gate), gate}, 0);
  at::Tensor y = gated_gelu(h);
  EXPECT_TRUE(at::allclose(y, at::gelu(gate), 1e-6, 1e-7));
  EXPECT_TRUE(at::isnan(gated_gelu(at::tensor({1.0f, NAN}))).all().item<bool>());
}

TEST(GeluKernel, MatchesAtGeluAndHandlesStridedInput) {
  at::manual_seed(2);
  at::Tensor x = at::randn({40, 33}).t() * 5;  // non-contiguous
  EXPECT_TRUE(at::allclose(i2v::kernels::gelu(x), at::gelu(x), 1e-6, 1e-6));
  at::Tensor xb = x.to(at::kBFloat16);
  EXPECT_TRUE(at::allclose(i2v::kernels::gelu(xb).to(at::kFloat), at::gelu(xb.to(at::kFloat)),
                           1.0 / 128, 1e-6));
}

TEST(GatedGeluKernel, RejectsBadInput) {
  EXPECT_THROW(gated_gelu(at::ones({2, 3})), i2v::ShapeError);
  EXPECT_THROW(gated_gelu(at::ones({2, 4}, at::kDouble)), i2v::ShapeError);
  EXPECT_THROW(gated_gelu(at::Tensor()), i2v::ShapeError);
}

}  // namespace
