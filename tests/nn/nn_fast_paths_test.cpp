// The fast paths of the shared layers against the plain libtorch ops they replace: the temporal
// (3, 1, 1) convolution as matrix products, the fused GroupNorm + SiLU, token-major group norm,
// bf16 attention products, and the bf16-exact nearest doubling.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "i2v/error.h"
#include "i2v/kernels/onednn_attention.h"
#include "i2v/nn/norm.h"
#include "i2v/nn/sampling.h"
#include "i2v/nn/scaled_dot_product.h"
#include "i2v/nn/temporal_conv.h"

namespace i2v::nn {
namespace {

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// diffusers' TemporalConvLayer written with the plain ops: GroupNorm, SiLU, Conv3d on (B,C,F,H,W).
at::Tensor plain_temporal_conv(TemporalConvLayerImpl& m, const at::Tensor& x, int64_t frames) {
  const int64_t bf = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  at::Tensor id =
      x.reshape({bf / frames, frames, c, h, w}).permute({0, 2, 1, 3, 4}).to(at::kDouble);
  at::Tensor t = id;
  for (size_t i = 0; i < m.convs.size(); ++i) {
    auto& n = m.norms[i];
    t = at::silu(at::group_norm(t, n->num_groups, n->weight.to(at::kDouble),
                                n->bias.to(at::kDouble), n->eps));
    t = at::conv3d(t, m.convs[i]->weight.to(at::kDouble), m.convs[i]->bias.to(at::kDouble), 1,
                   {1, 0, 0});
  }
  return (id + t).permute({0, 2, 1, 3, 4}).reshape({bf, c, h, w});
}

void randomise(torch::nn::Module& m, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::NoGradGuard g;
  for (auto& p : m.parameters())
    p.copy_(at::randn(p.sizes(), gen) * 0.3 + (p.dim() == 1 ? 0.5 : 0));
}

TEST(FastPaths, TemporalConvEqualsConv3d) {
  at::NoGradGuard g;
  TemporalConvLayer m(16, 16, 4);
  randomise(*m, 3);
  for (int64_t frames : {1, 2, 5}) {
    at::Tensor x = at::randn({2 * frames, 16, 3, 4});
    at::Tensor ref = plain_temporal_conv(*m, x, frames);
    EXPECT_LE(max_abs_diff(m->forward(x, frames), ref), 1e-4) << frames << " frames";
    // Channels-last input takes the copy-free path and gives the same values.
    at::Tensor xl = x.contiguous(at::MemoryFormat::ChannelsLast);
    EXPECT_LE(max_abs_diff(m->forward(xl, frames), ref), 1e-4) << frames << " frames, CL";
  }
  // bf16: within a few bf16 roundings of the float64 definition.
  m->to(at::kBFloat16);
  at::Tensor x = at::randn({6, 16, 3, 4});
  at::Tensor ref = plain_temporal_conv(*m, x.to(at::kBFloat16), 3);
  at::Tensor y = m->forward(x.to(at::kBFloat16), 3);
  EXPECT_EQ(y.scalar_type(), at::kBFloat16);
  EXPECT_LE(max_abs_diff(y, ref), 0.05 * ref.abs().max().item<double>());
}

TEST(FastPaths, GroupNormSiluAndTokensEqualPlainOps) {
  at::NoGradGuard g;
  GroupNorm32 n(4, 12, 1e-6);
  randomise(*n, 4);
  at::Tensor x = at::randn({2, 12, 5, 3}) + 2;
  at::Tensor ref = at::silu(at::group_norm(x, 4, n->weight, n->bias, 1e-6));
  EXPECT_LE(max_abs_diff(n->forward_silu(x), ref), 1e-5);
  EXPECT_LE(max_abs_diff(n->forward(x), at::group_norm(x, 4, n->weight, n->bias, 1e-6)), 1e-5);
  at::Tensor tokens = x.flatten(2).transpose(1, 2).contiguous();  // (N, L, C)
  EXPECT_LE(max_abs_diff(n->forward_tokens(tokens, true), ref.flatten(2).transpose(1, 2)), 1e-5);
  EXPECT_THROW(n->forward_tokens(x), ShapeError);
}

TEST(FastPaths, Bf16AttentionCloseToFloat64) {
  at::manual_seed(5);
  at::Tensor q = at::randn({2, 3, 40, 16}), k = at::randn({2, 3, 50, 16}),
             v = at::randn({2, 3, 50, 8});
  const double scale = 0.25;
  at::Tensor ref = at::matmul(
      at::softmax(at::matmul(q.to(at::kDouble), k.to(at::kDouble).transpose(-1, -2)) * scale, -1),
      v.to(at::kDouble));
  at::Tensor o =
      scaled_dot_product(q.to(at::kBFloat16), k.to(at::kBFloat16), v.to(at::kBFloat16), scale);
  EXPECT_EQ(o.scalar_type(), at::kBFloat16);
  // bf16 inputs and scores: about 1% of the output range.
  EXPECT_LE(max_abs_diff(o, ref), 0.02 * ref.abs().max().item<double>());
  // Where the blocked oneDNN kernel exists, bf16 attention is that kernel.
  const at::Tensor qb = q.to(at::kBFloat16), kb = k.to(at::kBFloat16), vb = v.to(at::kBFloat16);
  const at::Tensor fused = kernels::onednn_attention(qb, kb, vb, scale);
  if (fused.defined()) {
    EXPECT_TRUE(scaled_dot_product(qb, kb, vb, scale).equal(fused));
  }
}

TEST(FastPaths, UpsampleDoublingIsExactNearestInBothDtypes) {
  at::NoGradGuard g;
  Upsample2D up(3, 3);
  at::Tensor x = at::randn({2, 3, 4, 5});
  at::Tensor ref =
      at::conv2d(at::upsample_nearest2d(x, {8, 10}), up->conv->weight, up->conv->bias, 1, 1);
  EXPECT_TRUE(at::equal(up->forward(x, std::nullopt), ref));
  up->to(at::kBFloat16);
  at::Tensor xb = x.to(at::kBFloat16);
  at::Tensor refb = at::conv2d(at::upsample_nearest2d(xb.to(at::kFloat), {8, 10}).to(at::kBFloat16),
                               up->conv->weight, up->conv->bias, 1, 1);
  EXPECT_TRUE(at::equal(up->forward(xb, std::nullopt), refb));
}

}  // namespace
}  // namespace i2v::nn
