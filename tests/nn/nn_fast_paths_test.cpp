// The fast paths of the shared layers against the plain libtorch ops they replace: the temporal
// (3, 1, 1) convolution as matrix products, the fused GroupNorm + SiLU, token-major group norm,
// bf16 attention products, the bf16-exact nearest doubling, and residual sums accumulated into
// the residual by the output projections.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "i2v/error.h"
#include "i2v/kernels/onednn_attention.h"
#include "i2v/kernels/onednn_gemm.h"
#include "i2v/kernels/packed_weights.h"
#include "i2v/nn/attention.h"
#include "i2v/nn/chunking.h"
#include "i2v/nn/feed_forward.h"
#include "i2v/nn/linear.h"
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

// A 64-channel attention layer of 2 heads of 32 in bf16 (self-attention when cross_dim is 0).
Attention bf16_attention(int64_t cross_dim = 0) {
  AttentionOptions o;
  o.query_dim = 64;
  o.heads = 2;
  o.dim_head = 32;
  o.cross_attention_dim = cross_dim;
  Attention attn(o);
  attn->to(at::kBFloat16);
  return attn;
}

// The transformer block's later residuals: residual += layer(x) accumulated in place by the
// oneDNN product (one rounding of the sum) equals residual + layer(x) within a bf16 step, for a
// linear layer, an attention layer and a feed-forward in blocks of rows; with a graph running
// through the residual it is replaced by the out-of-place sum and gradients flow.
TEST(FastPaths, ResidualAddsAccumulateIntoTheResidual) {
  torch::NoGradGuard no_grad;
  at::manual_seed(9);
  auto close = [](const at::Tensor& got, const at::Tensor& want) {
    return max_abs_diff(got, want) <= 2.0 / 256 * want.abs().max().item<double>();
  };
  torch::nn::Linear lin(torch::nn::LinearOptions(64, 48));
  lin->to(at::kBFloat16);
  const at::Tensor x = at::randn({3, 100, 64}).to(at::kBFloat16);  // 300 rows: oneDNN takes them
  const at::Tensor r0 = at::randn({3, 100, 48}).to(at::kBFloat16);
  at::Tensor r = r0.clone();
  const void* memory = r.data_ptr();
  linear_add_into(lin, x, r);
  EXPECT_EQ(r.data_ptr(), memory);
  EXPECT_TRUE(close(r, r0 + linear(lin, x)));
  if (kernels::onednn_gemm_enabled()) {
    EXPECT_FALSE(r.equal(r0 + linear(lin, x))) << "one rounding of the sum, not two";
  }

  Attention attn = bf16_attention();
  const at::Tensor t = at::randn({3, 100, 64}).to(at::kBFloat16);
  at::Tensor ra = t.clone();
  attn->forward_add(x, {}, ra);
  EXPECT_TRUE(close(ra, t + attn->forward(x)));

  FeedForward ff(64);
  ff->to(at::kBFloat16);
  const int64_t budget = feed_forward_budget();
  set_feed_forward_budget(64 * 8 * 100);  // blocks of 100 rows (and a floor of 2048: one block)
  at::Tensor rf = t.clone();
  ff->forward_add(x, rf);
  EXPECT_TRUE(close(rf, t + ff->forward(x)));
  set_feed_forward_budget(10);  // below 64 rows per block: blocks of one row
  at::Tensor rb = t.clone();
  at::Tensor view = rb.narrow(1, 0, 7);  // not contiguous: the product, then an in-place add
  ff->forward_add(x.narrow(1, 0, 7), view);
  EXPECT_TRUE(close(rb.narrow(1, 0, 7), t.narrow(1, 0, 7) + ff->forward(x.narrow(1, 0, 7))));
  EXPECT_TRUE(rb.narrow(1, 7, 93).equal(t.narrow(1, 7, 93)));
  at::Tensor rc = t.narrow(1, 0, 7).contiguous();  // 21 rows in blocks of one row
  ff->forward_add(x.narrow(1, 0, 7), rc);
  EXPECT_TRUE(close(rc, t.narrow(1, 0, 7) + ff->forward(x.narrow(1, 0, 7))));
  set_feed_forward_budget(budget);

  // A graph through the residual: the out-of-place sum, differentiable.
  torch::AutoGradMode grad(true);
  at::Tensor leaf = r0.to(at::kFloat).requires_grad_();
  at::Tensor g = leaf * 1.0;
  torch::nn::Linear lf(torch::nn::LinearOptions(64, 48));
  linear_add_into(lf, x.to(at::kFloat), g);
  g.sum().backward();
  ASSERT_TRUE(leaf.grad().defined());
  EXPECT_TRUE(leaf.grad().equal(at::ones_like(leaf)));
}

// With kept packed weights, self-attention projects q, k and v in one product against the three
// weights stacked: one packed weight for the three (plus the output projection's), the same
// output within bf16 rounding.
TEST(FastPaths, SelfAttentionProjectsQkvAtOnceWithKeptWeights) {
  if (!kernels::onednn_gemm_enabled()) GTEST_SKIP() << "built without the direct oneDNN path";
  torch::NoGradGuard no_grad;
  at::manual_seed(10);
  Attention attn = bf16_attention();
  const at::Tensor x = at::randn({3, 100, 64}).to(at::kBFloat16);
  const at::Tensor separate = attn->forward(x);
  kernels::PackedWeights kept;
  {
    kernels::PackedWeightScope scope(kept);
    const at::Tensor merged = attn->forward(x);
    EXPECT_LE(max_abs_diff(merged, separate), 2.0 / 256 * separate.abs().max().item<double>());
    EXPECT_TRUE(attn->forward(x).equal(merged));  // the kept stacked weight, reused
  }
  EXPECT_EQ(kept.count(), 2);  // q/k/v stacked, and to_out
  // Cross-attention keeps separate projections (k and v come from the context).
  Attention cross = bf16_attention(/*cross_attention_dim=*/16);
  kernels::PackedWeights kept_cross;
  {
    kernels::PackedWeightScope scope(kept_cross);
    cross->forward(x, at::randn({3, 20, 16}).to(at::kBFloat16));
  }
  EXPECT_EQ(kept_cross.count(), 4);
}

}  // namespace
}  // namespace i2v::nn
