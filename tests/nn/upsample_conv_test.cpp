// The phase form of nearest-2x-upsample + 3x3 convolution against the direct computation.
#include <gtest/gtest.h>

#include "i2v/kernels/onednn_conv.h"
#include "i2v/kernels/onednn_gemm.h"
#include "i2v/nn/upsample_conv.h"

namespace i2v::nn {
namespace {

at::Tensor direct(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  const at::Tensor up = x.repeat_interleave(2, 2).repeat_interleave(2, 3);
  return at::conv2d(up, w, b, 1, 1);
}

Conv2x2 libtorch_conv() {
  return [](const at::Tensor& x, const at::Tensor& k, const at::Tensor& b) {
    return at::conv2d(x, k, b, 1, 1);
  };
}

double rel_rms(const at::Tensor& a, const at::Tensor& ref) {
  const at::Tensor d = a.to(at::kDouble) - ref.to(at::kDouble);
  return std::sqrt(d.pow(2).mean().item<double>() /
                   ref.to(at::kDouble).pow(2).mean().item<double>());
}

TEST(UpsampleConv, PhaseFormEqualsUpsampleThenConvInFloat64AndFloat32) {
  at::Generator g = at::detail::createCPUGenerator(4);
  for (auto [c, o, h, w] : {std::array<int64_t, 4>{3, 5, 4, 6}, {8, 6, 7, 5}, {16, 16, 1, 9}}) {
    const at::Tensor x = at::randn({2, c, h, w}, g, at::kDouble);
    const at::Tensor k = at::randn({o, c, 3, 3}, g, at::kDouble);
    const at::Tensor b = at::randn({o}, g, at::kDouble);
    const at::Tensor ref = direct(x, k, b);
    const at::Tensor y = upsample2x_conv3x3(x, k, b, libtorch_conv());
    ASSERT_EQ(y.sizes(), ref.sizes());
    EXPECT_TRUE(y.is_contiguous(at::MemoryFormat::ChannelsLast));
    EXPECT_LT((y - ref).abs().max().item<double>(), 1e-12 * ref.abs().max().item<double>());
    const at::Tensor y32 =
        upsample2x_conv3x3(x.to(at::kFloat), k.to(at::kFloat), b.to(at::kFloat), libtorch_conv());
    EXPECT_LT(rel_rms(y32, ref), 1e-6);
  }
}

// bf16 inputs build their phase kernels in one pass: bit-identical to the float32 builder's
// result rounded to bf16 (what the conv receives), for weights given in bf16 and in float32.
TEST(UpsampleConv, Bf16PhaseKernelsEqualFloat32BuilderRounded) {
  at::Generator g = at::detail::createCPUGenerator(6);
  for (at::ScalarType wt : {at::kBFloat16, at::kFloat}) {
    const at::Tensor k = at::randn({24, 40, 3, 3}, g).to(wt);
    const at::Tensor x = at::randn({1, 40, 3, 3}, g).to(at::kBFloat16);
    at::Tensor seen;
    upsample2x_conv3x3(x, k, {}, [&](const at::Tensor&, const at::Tensor& kk, const at::Tensor&) {
      seen = kk;
      return at::Tensor();
    });
    ASSERT_TRUE(seen.defined());
    ASSERT_EQ(seen.scalar_type(), at::kBFloat16);
    EXPECT_TRUE(seen.equal(upsample_phase_kernels(k).to(at::kBFloat16)));
  }
}

// bf16 through oneDNN (as the VAE and UNet upsamplers run it): the one extra rounding of the
// summed taps keeps the error at bf16's level, against the direct bf16 path's.
TEST(UpsampleConv, Bf16PhaseFormErrorIsBf16Level) {
  if (!kernels::onednn_gemm_enabled()) GTEST_SKIP() << "no direct oneDNN build";
  at::Generator g = at::detail::createCPUGenerator(5);
  const at::Tensor x = at::randn({1, 64, 16, 16}, g);
  const at::Tensor k = at::randn({64, 64, 3, 3}, g) / 24;
  const at::Tensor b = at::randn({64}, g);
  const at::Tensor ref = direct(x.to(at::kDouble), k.to(at::kDouble), b.to(at::kDouble));
  const at::Tensor xb = x.to(at::kBFloat16), kb = k.to(at::kBFloat16), bb = b.to(at::kBFloat16);
  const at::Tensor phase = upsample2x_conv3x3(
      xb, kb, bb, [](const at::Tensor& in, const at::Tensor& kk, const at::Tensor& bias) {
        return kernels::onednn_conv2d(in, kk, bias, 1, 1);
      });
  ASSERT_TRUE(phase.defined());
  const at::Tensor plain = direct(xb, kb, bb);
  // Against float64 of the same (bf16-rounded) inputs: only the computation's rounding counts.
  const at::Tensor ref_b = direct(xb.to(at::kDouble), kb.to(at::kDouble), bb.to(at::kDouble));
  const double e_phase = rel_rms(phase, ref_b), e_plain = rel_rms(plain, ref_b);
  RecordProperty("phase_rel_rms", std::to_string(e_phase));
  RecordProperty("plain_rel_rms", std::to_string(e_plain));
  std::printf("bf16 rel. RMS vs float64: phase form %.3e, upsample + conv %.3e\n", e_phase,
              e_plain);
  EXPECT_LT(e_phase, 4e-3);
  EXPECT_LT(e_phase, 2.0 * e_plain);
  EXPECT_LT(rel_rms(phase, ref), 1e-2);
}

}  // namespace
}  // namespace i2v::nn
