// The direct oneDNN matmul and convolution against float64 references of the same bf16 inputs:
// both accumulate in float32 and round once, so the error is one bf16 rounding of the output plus
// float32 summation noise. Skipped in builds without I2V_WITH_ONEDNN (then they always decline).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "i2v/kernels/onednn_conv.h"
#include "i2v/kernels/onednn_gemm.h"

namespace {

using namespace i2v::kernels;

// max |y - ref| / max |ref|: the error measure reported in the README for the fused paths.
double relative_error(const at::Tensor& y, const at::Tensor& ref) {
  return (y.to(at::kDouble) - ref).abs().max().item<double>() / ref.abs().max().item<double>();
}

TEST(OnednnGemm, MatchesFloat64WithBiasAndAccumulation) {
  if (!onednn_gemm_enabled()) GTEST_SKIP() << "built without the direct oneDNN path";
  at::manual_seed(0);
  const auto bf = at::TensorOptions().dtype(at::kBFloat16);
  const at::Tensor x = at::randn({512, 96}, bf), w = at::randn({80, 96}, bf) * 0.1;
  const at::Tensor bias = at::randn({80}, bf);
  at::Tensor y = at::empty({512, 80}, bf);
  ASSERT_TRUE(onednn_gemm(x, w, bias, y, false));
  const at::Tensor ref = at::addmm(bias.to(at::kDouble), x.to(at::kDouble), w.to(at::kDouble).t());
  EXPECT_LT(relative_error(y, ref), 1.0 / 128);
  // Accumulate into a row block of a wider, pre-filled output through a strided weight view.
  at::Tensor big = at::randn({512, 2 * 80}, bf);
  at::Tensor dst = big.narrow(1, 0, 80);
  const at::Tensor before = dst.to(at::kDouble), other_half = big.narrow(1, 80, 80).clone();
  const at::Tensor w3 = at::randn({80, 96, 3}, bf);
  const at::Tensor tap = w3.select(2, 1);  // (80, 96) with strides (288, 3)
  ASSERT_TRUE(onednn_gemm(x, tap, at::Tensor(), dst, true));
  const at::Tensor ref2 = before + at::mm(x.to(at::kDouble), tap.to(at::kDouble).t());
  EXPECT_LT(relative_error(dst, ref2), 1.0 / 64);
  EXPECT_TRUE(big.narrow(1, 80, 80).equal(other_half));  // the rest of the rows stays as it was
}

TEST(OnednnGemm, DeclinesWhatItDoesNotHandle) {
  const auto bf = at::TensorOptions().dtype(at::kBFloat16);
  at::Tensor y = at::zeros({16, 8}, bf);
  // Too few rows (the weight reorder would dominate), float32, shape mismatch: false, untouched.
  EXPECT_FALSE(onednn_gemm(at::randn({16, 4}, bf), at::randn({8, 4}, bf), {}, y, false));
  EXPECT_TRUE(y.eq(0).all().item<bool>());
  at::Tensor yf = at::zeros({512, 8});
  EXPECT_FALSE(onednn_gemm(at::randn({512, 4}), at::randn({8, 4}), {}, yf, false));
  at::Tensor y2 = at::zeros({512, 8}, bf);
  EXPECT_FALSE(onednn_gemm(at::randn({512, 4}, bf), at::randn({8, 5}, bf), {}, y2, false));
}

TEST(OnednnConv, MatchesFloat64ForNchwAndChannelsLastInput) {
  if (!onednn_gemm_enabled()) GTEST_SKIP() << "built without the direct oneDNN path";
  at::manual_seed(1);
  const auto bf = at::TensorOptions().dtype(at::kBFloat16);
  const at::Tensor x = at::randn({2, 24, 12, 12}, bf), w = at::randn({40, 24, 3, 3}, bf) * 0.1;
  const at::Tensor bias = at::randn({40}, bf);
  const at::Tensor ref =
      at::conv2d(x.to(at::kDouble), w.to(at::kDouble), bias.to(at::kDouble), 1, 1);
  for (bool channels_last : {false, true}) {
    const at::Tensor in = channels_last ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
    const at::Tensor y = onednn_conv2d(in, w, bias, 1, 1);
    ASSERT_TRUE(y.defined());
    EXPECT_TRUE(y.is_contiguous(at::MemoryFormat::ChannelsLast));
    EXPECT_EQ(y.sizes(), ref.sizes());
    EXPECT_LT(relative_error(y, ref), 1.0 / 128) << channels_last;
  }
  // Stride 2 without padding (the downsampler after its own pad), no bias.
  const at::Tensor x2 = at::randn({1, 24, 33, 33}, bf);
  const at::Tensor y2 = onednn_conv2d(x2, w, {}, 2, 0);
  ASSERT_TRUE(y2.defined());
  const at::Tensor ref2 = at::conv2d(x2.to(at::kDouble), w.to(at::kDouble), at::Tensor(),
                                     at::IntArrayRef{2, 2}, at::IntArrayRef{0, 0});
  EXPECT_EQ(y2.sizes(), ref2.sizes());
  EXPECT_LT(relative_error(y2, ref2), 1.0 / 128);
}

TEST(OnednnConv, DeclinesSmallOutputsAndOtherDtypes) {
  const auto bf = at::TensorOptions().dtype(at::kBFloat16);
  const at::Tensor w = at::randn({8, 4, 3, 3}, bf);
  EXPECT_FALSE(onednn_conv2d(at::randn({1, 4, 4, 4}, bf), w, {}, 1, 1).defined());  // 16 pixels
  EXPECT_FALSE(onednn_conv2d(at::randn({1, 4, 16, 16}), w.to(at::kFloat), {}, 1, 1).defined());
  EXPECT_FALSE(onednn_conv2d(at::randn({1, 5, 16, 16}, bf), w, {}, 1, 1).defined());
}

}  // namespace
