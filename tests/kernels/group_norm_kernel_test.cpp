// The fused GroupNorm(+SiLU) kernel against libtorch's plain ops, in every layout it reads.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "i2v/error.h"
#include "i2v/kernels/cpu_features.h"
#include "i2v/kernels/group_norm.h"

namespace {

// Qualified names: at::group_norm is found by argument-dependent lookup otherwise.
namespace k = i2v::kernels;
const at::Tensor none;

at::Tensor reference(const at::Tensor& x, int64_t groups, const at::Tensor& w, const at::Tensor& b,
                     double eps, bool silu) {
  at::Tensor y =
      at::group_norm(x.to(at::kDouble).contiguous(), groups, w.defined() ? w.to(at::kDouble) : w,
                     b.defined() ? b.to(at::kDouble) : b, eps);
  return silu ? at::silu(y) : y;
}

double max_err(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

struct Case {
  std::vector<int64_t> shape;
  int64_t groups;
};

TEST(GroupNormKernel, Float32MatchesGroupNormInEveryLayout) {
  at::manual_seed(0);
  for (const Case& c : {Case{{2, 32, 5, 7}, 8}, Case{{1, 12, 3, 4, 5}, 3}, Case{{3, 64, 17}, 32},
                        Case{{2, 40, 9, 9}, 1}}) {
    // A mean far from zero checks that the moments do not cancel.
    at::Tensor x = at::randn(c.shape) * 3 + 20;
    const int64_t ch = c.shape[1];
    at::Tensor w = at::randn({ch}), b = at::randn({ch});
    for (bool silu : {false, true}) {
      at::Tensor ref = reference(x, c.groups, w, b, 1e-5, silu);
      at::Tensor y = k::group_norm(x, c.groups, w, b, 1e-5, silu);
      EXPECT_EQ(y.sizes(), x.sizes());
      EXPECT_LE(max_err(y, ref), 2e-5) << "contiguous " << x.sizes() << " silu " << silu;
      if (x.dim() == 4 || x.dim() == 5) {
        at::Tensor xl = x.contiguous(x.dim() == 4 ? at::MemoryFormat::ChannelsLast
                                                  : at::MemoryFormat::ChannelsLast3d);
        at::Tensor yl = k::group_norm(xl, c.groups, w, b, 1e-5, silu);
        EXPECT_EQ(yl.strides(), xl.strides()) << "keeps channels-last";
        EXPECT_LE(max_err(yl, ref), 2e-5) << "channels last " << x.sizes();
      }
      // A strided view in neither layout is copied first and still right.
      at::Tensor odd = x.transpose(0, x.dim() - 1);
      at::Tensor yo =
          k::group_norm(odd.contiguous().transpose(0, x.dim() - 1), c.groups, w, b, 1e-5, silu);
      EXPECT_LE(max_err(yo, ref), 2e-5);
    }
  }
}

TEST(GroupNormKernel, TokensEqualTransposedGroupNorm) {
  at::manual_seed(1);
  at::Tensor t = at::randn({2, 50, 24});  // (N, L, C)
  at::Tensor w = at::randn({24}), b = at::randn({24});
  at::Tensor ref = reference(t.transpose(1, 2), 6, w, b, 1e-6, true).transpose(1, 2);
  EXPECT_LE(max_err(k::group_norm_tokens(t, 6, w, b, 1e-6, true), ref), 2e-5);
  // The (N, C, L) transpose of tokens is read as channels last by group_norm itself.
  EXPECT_LE(max_err(k::group_norm(t.transpose(1, 2), 6, w, b, 1e-6, true).transpose(1, 2), ref),
            2e-5);
}

TEST(GroupNormKernel, Bf16WithinOneRoundingOfExact) {
  at::manual_seed(2);
  // 32 channels: whole 16-lane vectors; 72: a 64-channel tile plus an 8-channel tail, and runs of
  // 8 x 35 values that end in a partial vector (the AVX-512 kernels' edges).
  const std::vector<std::pair<std::vector<int64_t>, int64_t>> cases = {{{2, 32, 6, 6}, 8},
                                                                       {{2, 72, 5, 7}, 9}};
  for (const auto& [shape, groups] : cases) {
    const int64_t c = shape[1];
    at::Tensor x = (at::randn(shape) * 2 + 1).to(at::kBFloat16);
    at::Tensor w = at::randn({c}).to(at::kBFloat16), b = at::randn({c}).to(at::kBFloat16);
    for (bool silu : {false, true}) {
      at::Tensor ref = reference(x, groups, w, b, 1e-5, silu);
      for (auto fmt : {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast}) {
        at::Tensor y = k::group_norm(x.contiguous(fmt), groups, w, b, 1e-5, silu);
        EXPECT_EQ(y.scalar_type(), at::kBFloat16);
        // One bf16 rounding of the output: relative 2^-8 of the value.
        at::Tensor tol = ref.abs() * (1.0 / 256) + 1e-6;
        EXPECT_TRUE(((y.to(at::kDouble) - ref).abs() <= tol).all().item<bool>())
            << x.sizes() << " silu " << silu;
      }
    }
  }
}

TEST(GroupNormKernel, Bf16SiluAtTheEdgesOfFloatRange) {
  // A zero weight makes y the bias itself: silu of large, tiny and overflowing-exp arguments.
  const std::vector<float> edge = {200.0f, -200.0f, 88.5f, -88.5f, -87.0f, 1e-30f, -1e-30f, 0.0f,
                                   30.0f,  -30.0f,  3.0f,  -3.0f,  1e4f,   -1e4f,  0.5f,    -0.5f};
  const int64_t c = static_cast<int64_t>(edge.size());
  at::Tensor b = at::tensor(edge).to(at::kBFloat16);
  at::Tensor x = at::randn({1, c, 3, 3}).to(at::kBFloat16);
  at::Tensor ref = reference(x, 4, at::zeros({c}), b, 1e-5, true);
  for (auto fmt : {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast}) {
    at::Tensor y = k::group_norm(x.contiguous(fmt), 4, at::zeros({c}), b, 1e-5, true);
    at::Tensor tol = ref.abs() * (1.0 / 256) + 1e-30;
    EXPECT_TRUE(((y.to(at::kDouble) - ref).abs() <= tol).all().item<bool>())
        << y.select(0, 0).select(1, 0).select(1, 0) << ref.select(0, 0).select(1, 0).select(1, 0);
  }
}

TEST(GroupNormKernel, NoAffineAndEmptyAndErrors) {
  at::Tensor x = at::randn({2, 8, 3, 3});
  EXPECT_LE(max_err(k::group_norm(x, 4, none, none, 1e-5, false),
                    reference(x, 4, none, none, 1e-5, false)),
            2e-5);
  EXPECT_EQ(k::group_norm(at::zeros({0, 8, 3, 3}), 4, none, none, 1e-5, false).numel(), 0);
  // A constant group has variance 0: the output is the bias, not NaN.
  at::Tensor y = k::group_norm(at::full({1, 4, 2, 2}, 7.0), 2, none, at::ones({4}), 1e-5, false);
  EXPECT_LE(max_err(y, at::ones_like(y)), 1e-6) << y;
  EXPECT_THROW(k::group_norm(x, 3, none, none, 1e-5, false), i2v::ShapeError);
  EXPECT_THROW(k::group_norm(x.to(at::kDouble), 4, none, none, 1e-5, false), i2v::ShapeError);
  EXPECT_THROW(k::group_norm(x, 4, at::ones({5}), none, 1e-5, false), i2v::ShapeError);
  EXPECT_THROW(k::group_norm_tokens(x, 4, none, none, 1e-5, false), i2v::ShapeError);
}

TEST(CpuFeatures, AgreesWithProcCpuinfo) {
  std::ifstream in("/proc/cpuinfo");
  std::string line, flags;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) {
      flags = line + " ";
      break;
    }
  }
  if (flags.empty()) GTEST_SKIP() << "no /proc/cpuinfo flags here";
  EXPECT_EQ(i2v::kernels::cpu_has_avx512_bf16(), flags.find(" avx512_bf16 ") != std::string::npos);
  EXPECT_EQ(i2v::kernels::cpu_has_amx_bf16(), flags.find(" amx_bf16 ") != std::string::npos);
}

}  // namespace
