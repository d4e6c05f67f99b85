// Behaviour of the shared layers beyond the golden units: attention against a naive softmax, the
// memory-bounded (chunked) attention path, fp32 norms under bf16, the conv-projection variant,
// explicit upsampling sizes, and typed errors for bad inputs.
#include <gtest/gtest.h>

#include <thread>

#include <ATen/ATen.h>
#include <torch/nn/functional/conv.h>
#include <torch/nn/functional/linear.h>

#include <set>
#include <string>

#include "i2v/error.h"
#include "i2v/nn/attention.h"
#include "i2v/nn/basic_transformer_block.h"
#include "i2v/nn/chunking.h"
#include "i2v/nn/feed_forward.h"
#include "i2v/nn/norm.h"
#include "i2v/nn/resnet_block.h"
#include "i2v/nn/sampling.h"
#include "i2v/nn/scaled_dot_product.h"
#include "i2v/nn/temporal_conv.h"
#include "i2v/nn/transformer_2d.h"
#include "i2v/nn/transformer_temporal.h"

namespace i2v::nn {
namespace {

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

at::Tensor randn(at::IntArrayRef shape, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat));
}

// Restores the global attention score budget when a test ends.
struct BudgetGuard {
  int64_t saved = attention_score_budget();
  ~BudgetGuard() { set_attention_score_budget(saved); }
};

// The definition, in float64: softmax(q k^T * scale) v.
at::Tensor naive_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           double scale) {
  at::Tensor s = at::matmul(q.to(at::kDouble), k.to(at::kDouble).transpose(-1, -2)) * scale;
  return at::matmul(at::softmax(s, -1), v.to(at::kDouble));
}

TEST(ScaledDotProduct, EqualsNaiveSoftmax) {
  torch::NoGradGuard ng;
  // Lq != Lk and dv != d, so that a transposed operand cannot pass.
  at::Tensor q = randn({2, 3, 7, 5}, 1), k = randn({2, 3, 11, 5}, 2), v = randn({2, 3, 11, 4}, 3);
  for (double scale : {1.0 / std::sqrt(5.0), 0.37, 2.0}) {
    at::Tensor out = scaled_dot_product(q, k, v, scale);
    EXPECT_EQ(out.sizes(), at::IntArrayRef({2, 3, 7, 4}));
    EXPECT_EQ(out.scalar_type(), at::kFloat);
    EXPECT_LE(max_abs_diff(out, naive_attention(q, k, v, scale)), 1e-6) << "scale " << scale;
  }
}

TEST(ScaledDotProduct, AcceptsNonContiguousHeads) {
  torch::NoGradGuard ng;
  // The layout Attention produces: (N, L, H, d) viewed as (N, H, L, d).
  at::Tensor q = randn({2, 7, 3, 5}, 4).transpose(1, 2), k = randn({2, 9, 3, 5}, 5).transpose(1, 2);
  at::Tensor v = randn({2, 9, 3, 5}, 6).transpose(1, 2);
  EXPECT_LE(max_abs_diff(scaled_dot_product(q, k, v, 0.5), naive_attention(q, k, v, 0.5)), 1e-6);
}

TEST(ScaledDotProduct, ChunkedEqualsWhole) {
  torch::NoGradGuard ng;
  BudgetGuard guard;
  at::Tensor q = randn({2, 3, 13, 8}, 7), k = randn({2, 3, 17, 8}, 8), v = randn({2, 3, 17, 6}, 9);
  at::Tensor ref = naive_attention(q, k, v, 0.3);
  // Whole; two batch entries per block (and a ragged last block); 5 rows; 1 row per block.
  for (int64_t budget : {int64_t{1} << 26, int64_t{2 * 13 * 17}, int64_t{5 * 17 + 3}, int64_t{1}}) {
    set_attention_score_budget(budget);
    at::Tensor out = scaled_dot_product(q, k, v, 0.3);
    EXPECT_EQ(out.sizes(), at::IntArrayRef({2, 3, 13, 6}));
    EXPECT_LE(max_abs_diff(out, ref), 1e-6) << "budget " << budget;
  }
  set_attention_score_budget(0);
  EXPECT_EQ(attention_score_budget(), 1);
}

TEST(ScaledDotProduct, Bf16ReturnsBf16) {
  torch::NoGradGuard ng;
  BudgetGuard guard;
  at::Tensor q = randn({1, 2, 9, 8}, 10).to(at::kBFloat16);
  at::Tensor k = randn({1, 2, 9, 8}, 11).to(at::kBFloat16);
  at::Tensor v = randn({1, 2, 9, 8}, 12).to(at::kBFloat16);
  at::Tensor ref = naive_attention(q, k, v, 0.35);
  for (int64_t budget : {int64_t{1} << 26, int64_t{4}}) {
    set_attention_score_budget(budget);
    at::Tensor out = scaled_dot_product(q, k, v, 0.35);
    EXPECT_EQ(out.scalar_type(), at::kBFloat16);
    // bf16 inputs: both products run in bf16 (float32 accumulation) and the scores are rounded
    // to bf16 once before the float32 softmax, as in diffusers' bf16 attention; the probabilities
    // are rounded to bf16 for the second product. About 1% of the output range.
    const double rel = max_abs_diff(out, ref) / ref.abs().max().item<double>();
    std::printf("[ bf16   ] scaled_dot_product budget %lld: rel err %.2e\n",
                static_cast<long long>(budget), rel);
    EXPECT_LE(rel, 2e-2);
  }
}

TEST(ScaledDotProduct, RejectsMismatchedShapes) {
  at::Tensor q = at::zeros({1, 2, 4, 8});
  EXPECT_THROW(scaled_dot_product(q, at::zeros({1, 2, 5, 7}), at::zeros({1, 2, 5, 8}), 1.0),
               ShapeError);
  EXPECT_THROW(scaled_dot_product(q, at::zeros({1, 2, 5, 8}), at::zeros({1, 2, 6, 8}), 1.0),
               ShapeError);
  EXPECT_THROW(scaled_dot_product(q, at::zeros({1, 3, 5, 8}), at::zeros({1, 3, 5, 8}), 1.0),
               ShapeError);
}

TEST(GroupNorm32, FiveDEqualsGroupNormOfReshaped) {
  torch::NoGradGuard ng;
  GroupNorm32 norm(4, 8, 1e-6);
  norm->weight.copy_(randn({8}, 13));
  norm->bias.copy_(randn({8}, 14));
  at::Tensor x = randn({2, 8, 3, 4, 5}, 15) * 3 + 1;  // (B, C, F, H, W)
  at::Tensor ref = at::group_norm(x.reshape({2, 8, 60}), 4, norm->weight, norm->bias, 1e-6);
  at::Tensor out = norm->forward(x);
  EXPECT_EQ(out.sizes(), x.sizes());
  EXPECT_LE(max_abs_diff(out, ref.view_as(x)), 1e-6);
  // Statistics span frames too: normalising each frame separately gives something else.
  at::Tensor per_frame = at::group_norm(x.permute({0, 2, 1, 3, 4}).reshape({6, 8, 4, 5}), 4,
                                        norm->weight, norm->bias, 1e-6);
  EXPECT_GT(max_abs_diff(out, per_frame.view({2, 3, 8, 4, 5}).permute({0, 2, 1, 3, 4})), 1e-2);
}

TEST(Norms, Bf16ComputesInFloat32AndReturnsBf16) {
  torch::NoGradGuard ng;
  GroupNorm32 gn(2, 6, 1e-5);
  LayerNorm32 ln(6, 1e-5);
  gn->weight.copy_(randn({6}, 16));
  ln->bias.copy_(randn({6}, 17));
  gn->to(at::kBFloat16);
  ln->to(at::kBFloat16);
  // Large offset: bf16 statistics would lose the small variations entirely.
  at::Tensor x = (randn({3, 6, 4, 4}, 18) + 100).to(at::kBFloat16);
  at::Tensor y = gn->forward(x);
  EXPECT_EQ(y.scalar_type(), at::kBFloat16);
  at::Tensor ref =
      at::group_norm(x.to(at::kFloat), 2, gn->weight.to(at::kFloat), gn->bias.to(at::kFloat), 1e-5)
          .to(at::kBFloat16);
  // The fused kernel rounds its float32 result once, like the reference, but its float32 sums
  // may differ in the last bits: at most one bf16 step apart (bf16 statistics would be off by
  // whole units here).
  EXPECT_LE((y.to(at::kFloat) - ref.to(at::kFloat)).abs().max().item<float>(),
            ref.to(at::kFloat).abs().max().item<float>() / 128);

  at::Tensor t = (randn({3, 5, 6}, 19) + 100).to(at::kBFloat16);
  at::Tensor z = ln->forward(t);
  EXPECT_EQ(z.scalar_type(), at::kBFloat16);
  at::Tensor zref = at::layer_norm(t.to(at::kFloat), {6}, ln->weight.to(at::kFloat),
                                   ln->bias.to(at::kFloat), 1e-5)
                        .to(at::kBFloat16);
  EXPECT_TRUE(at::equal(z, zref));
}

TEST(Norms, RejectBadConfigAndInput) {
  EXPECT_THROW(GroupNorm32(8, 30, 1e-5), ConfigError);
  EXPECT_THROW(GroupNorm32(0, 32, 1e-5), ConfigError);
  EXPECT_THROW(LayerNorm32(0, 1e-5), ConfigError);
  EXPECT_THROW(GroupNorm32(4, 32, 1e-5)->forward(at::zeros({1, 16, 4, 4})), ShapeError);
  EXPECT_THROW(LayerNorm32(32, 1e-5)->forward(at::zeros({1, 4, 16})), ShapeError);
}

TEST(Modules, Bf16InBf16Out) {
  torch::NoGradGuard ng;
  const auto bf = at::kBFloat16;
  at::Tensor x = randn({4, 16, 3, 5}, 20).to(bf);
  at::Tensor ctx = randn({4, 7, 12}, 21).to(bf);
  ResnetBlock2D res(16, 8, 10, 4, 1e-5);
  res->to(bf);
  EXPECT_EQ(res->forward(x, randn({4, 10}, 22).to(bf)).scalar_type(), bf);
  Transformer2DModel t2d(16, 2, 8, 12, 4);
  t2d->to(bf);
  EXPECT_EQ(t2d->forward(x, ctx).scalar_type(), bf);
  TransformerTemporalModel tt(16, 2, 8, 4);
  tt->to(bf);
  EXPECT_EQ(tt->forward(x, 2).scalar_type(), bf);
  EXPECT_TRUE(tt->forward(x, 2).is_contiguous());
  TemporalConvLayer tc(16, 16, 4);
  tc->to(bf);
  EXPECT_EQ(tc->forward(x, 4).scalar_type(), bf);
  Upsample2D up(16, 16);
  up->to(bf);
  EXPECT_EQ(up->forward(x).scalar_type(), bf);
  Downsample2D down(16, 16, 0);
  down->to(bf);
  EXPECT_EQ(down->forward(x).scalar_type(), bf);
}

TEST(Attention, ResidualAndRescale) {
  torch::NoGradGuard ng;
  AttentionOptions o;
  o.query_dim = 8;
  o.heads = 2;
  o.dim_head = 4;
  Attention plain(o);
  o.residual_connection = true;
  o.rescale_output_factor = 2.0;
  Attention scaled(o);
  auto src = plain->named_parameters();
  for (auto& p : scaled->named_parameters()) p.value().copy_(src[p.key()]);
  // (N, C, H, W) input: flattened to (N, HW, C) inside, restored on the way out.
  at::Tensor x = randn({2, 8, 3, 4}, 29);
  at::Tensor ref = plain->forward(x.flatten(2).transpose(1, 2)).transpose(1, 2).reshape_as(x);
  EXPECT_LE(max_abs_diff(plain->forward(x), ref), 1e-6);
  EXPECT_LE(max_abs_diff(scaled->forward(x), (ref + x) / 2.0), 1e-6);
  // Self-attention by default; an explicit context replaces the keys and values.
  at::Tensor t = randn({2, 5, 8}, 30), c = randn({2, 3, 8}, 31);
  EXPECT_GT(max_abs_diff(plain->forward(t, c), plain->forward(t)), 1e-3);
  EXPECT_LE(max_abs_diff(plain->forward(t, t), plain->forward(t)), 1e-6);
}

// One context per video (B, F, L, C), a free expand: the same as that context repeated for each
// frame, in float32 and (through the blocked bf16 kernel where it exists) in bf16.
TEST(Attention, PerVideoContextEqualsOnePerFrame) {
  torch::NoGradGuard ng;
  AttentionOptions o;
  o.query_dim = 16;
  o.cross_attention_dim = 12;
  o.heads = 2;
  o.dim_head = 8;
  Attention attn(o);
  const int64_t b = 2, f = 3;
  const at::Tensor x = randn({b * f, 16, 4, 4}, 40), c = randn({b, 7, 12}, 41);
  const at::Tensor per_frame = c.repeat_interleave(f, 0);
  const at::Tensor per_video = c.unsqueeze(1).expand({b, f, 7, 12});
  EXPECT_LE(max_abs_diff(attn->forward(x, per_video), attn->forward(x, per_frame)), 1e-6);
  attn->to(at::kBFloat16);
  const at::Tensor xb = x.to(at::kBFloat16), cb = c.to(at::kBFloat16);
  const at::Tensor yb = attn->forward(xb, cb.unsqueeze(1).expand({b, f, 7, 12}));
  const at::Tensor refb = attn->forward(xb, cb.repeat_interleave(f, 0));
  EXPECT_LE(max_abs_diff(yb, refb), 0.02 * refb.abs().max().item<double>());
  // B x F must be the rows of x.
  EXPECT_THROW(attn->forward(xb, cb.unsqueeze(1).expand({b, f + 1, 7, 12})), i2v::ShapeError);
  EXPECT_THROW(attn->forward(xb, cb.unsqueeze(1).expand({b, f, 7, 12}).narrow(3, 0, 11)),
               i2v::ShapeError);
}

TEST(Transformer2D, ConvProjectionEqualsLinearProjection) {
  torch::NoGradGuard ng;
  Transformer2DModel lin(16, 2, 8, 12, 4, 1, true);
  Transformer2DModel conv(16, 2, 8, 12, 4, 1, false);
  // Same parameters; the 1x1 conv kernels are the Linear matrices with two unit dims.
  auto src = lin->named_parameters();
  for (auto& p : conv->named_parameters()) {
    at::Tensor s = src[p.key()];
    ASSERT_EQ(s.numel(), p.value().numel()) << p.key();
    p.value().copy_((s + 0.1 * randn(s.sizes(), 23)).view_as(p.value()));
    s.copy_(p.value().view_as(s));
  }
  EXPECT_EQ(conv->named_parameters()["proj_in.weight"].sizes(), at::IntArrayRef({16, 16, 1, 1}));
  at::Tensor x = randn({2, 16, 3, 5}, 24), ctx = randn({2, 7, 12}, 25);
  at::Tensor a = lin->forward(x, ctx), b = conv->forward(x, ctx);
  EXPECT_LE(max_abs_diff(a, b), 1e-5);
  EXPECT_GT(max_abs_diff(a, x), 1e-2);  // the block does something
  EXPECT_TRUE(a.is_contiguous());
  EXPECT_TRUE(b.is_contiguous());
}

TEST(Sampling, ExplicitUpsampleSizeAndDownsamplePadding) {
  torch::NoGradGuard ng;
  namespace F = torch::nn::functional;
  at::Tensor x = randn({1, 4, 4, 6}, 26);
  Upsample2D up(4, 3);
  at::Tensor y = up->forward(x, std::vector<int64_t>{7, 11});
  EXPECT_EQ(y.sizes(), at::IntArrayRef({1, 3, 7, 11}));
  at::Tensor ref = F::conv2d(at::upsample_nearest2d(x, {7, 11}), up->conv->weight,
                             F::Conv2dFuncOptions().bias(up->conv->bias).padding(1));
  EXPECT_LE(max_abs_diff(y, ref), 1e-6);
  EXPECT_TRUE(at::equal(up->forward(x), up->forward(x, std::vector<int64_t>{8, 12})));
  EXPECT_THROW(up->forward(x, std::vector<int64_t>{8}), ShapeError);

  at::Tensor z = randn({1, 4, 7, 9}, 27);
  Downsample2D unet_down(4, 4, 1), vae_down(4, 4, 0);
  EXPECT_EQ(unet_down->forward(z).sizes(), at::IntArrayRef({1, 4, 4, 5}));
  // VAE: pad right/bottom by one (8x10), then a valid stride-2 conv.
  at::Tensor v = vae_down->forward(z);
  at::Tensor vref = F::conv2d(at::constant_pad_nd(z, {0, 1, 0, 1}, 0), vae_down->conv->weight,
                              F::Conv2dFuncOptions().bias(vae_down->conv->bias).stride(2));
  EXPECT_EQ(v.sizes(), at::IntArrayRef({1, 4, 3, 4}));
  EXPECT_LE(max_abs_diff(v, vref), 1e-6);
}

// Explicit sizes use PyTorch "nearest": destination index d reads source floor(d * in / out) (not
// "nearest-exact"). An identity conv exposes the upsampled values.
TEST(Sampling, ExplicitSizeUsesFloorNearest) {
  torch::NoGradGuard ng;
  Upsample2D up(1, 1);
  up->conv->weight.zero_();
  up->conv->weight[0][0][1][1] = 1.0;
  up->conv->bias.zero_();
  at::Tensor x = at::arange(3 * 4, at::kFloat).view({1, 1, 3, 4});
  at::Tensor y = up->forward(x, std::vector<int64_t>{7, 9});
  for (int64_t r = 0; r < 7; ++r) {
    for (int64_t c = 0; c < 9; ++c) {
      const int64_t sr = r * 3 / 7, sc = c * 4 / 9;
      EXPECT_EQ(y[0][0][r][c].item<float>(), x[0][0][sr][sc].item<float>()) << r << "," << c;
    }
  }
}

TEST(FeedForward, GeluVariantAndNames) {
  torch::NoGradGuard ng;
  namespace F = torch::nn::functional;
  FeedForward ff(6, 5, 2, "gelu");
  std::set<std::string> names;
  for (const auto& p : ff->named_parameters()) names.insert(p.key());
  EXPECT_EQ(names, (std::set<std::string>{"net.0.proj.weight", "net.0.proj.bias", "net.2.weight",
                                          "net.2.bias"}));
  auto params = ff->named_parameters();
  at::Tensor x = randn({2, 3, 6}, 28);
  at::Tensor ref =
      F::linear(at::gelu(F::linear(x, params["net.0.proj.weight"], params["net.0.proj.bias"])),
                params["net.2.weight"], params["net.2.bias"]);
  EXPECT_LE(max_abs_diff(ff->forward(x), ref), 1e-6);
  EXPECT_EQ(params["net.0.proj.weight"].sizes(), at::IntArrayRef({12, 6}));
  EXPECT_EQ(FeedForward(6)->named_parameters()["net.0.proj.weight"].sizes(),
            at::IntArrayRef({48, 6}));  // GEGLU: two halves of 4*dim
  EXPECT_THROW(FeedForward(6, 0, 4, "relu"), ConfigError);
  EXPECT_THROW(ff->forward(at::zeros({2, 5})), ShapeError);
}

TEST(FeedForward, ChunkedEqualsWhole) {
  torch::NoGradGuard ng;
  struct Restore {
    int64_t saved = feed_forward_budget();
    ~Restore() { set_feed_forward_budget(saved); }
  } restore;
  FeedForward ff(8, 6);  // GEGLU: hidden width 64 per token
  at::Tensor x = randn({3, 7, 8}, 32);
  at::Tensor whole = ff->forward(x);
  EXPECT_EQ(whole.sizes(), at::IntArrayRef({3, 7, 6}));
  // 2 tokens per block (ragged last block); 1 token per block.
  for (int64_t budget : {int64_t{128}, int64_t{1}}) {
    set_feed_forward_budget(budget);
    at::Tensor out = ff->forward(x);
    EXPECT_EQ(out.sizes(), whole.sizes());
    EXPECT_LE(max_abs_diff(out, whole), 1e-6) << "budget " << budget;
    // A non-contiguous input (reshape copies) gives the transposed result.
    EXPECT_LE(max_abs_diff(ff->forward(x.transpose(0, 1)), whole.transpose(0, 1)), 1e-6);
  }
}

TEST(Names, OptionalSubmodulesFollowTheReference) {
  auto names = [](torch::nn::Module& m) {
    std::set<std::string> s;
    for (const auto& p : m.named_parameters()) s.insert(p.key());
    return s;
  };
  BasicTransformerBlock self_only(8, 2, 4, 0, false);
  EXPECT_EQ(names(*self_only).count("attn2.to_q.weight"), 0u);
  BasicTransformerBlock doubled(8, 2, 4, 0, true);
  EXPECT_EQ(doubled->named_parameters()["attn2.to_k.weight"].sizes(), at::IntArrayRef({8, 8}));
  BasicTransformerBlock cross(8, 2, 4, 12, false);
  EXPECT_EQ(cross->named_parameters()["attn2.to_k.weight"].sizes(), at::IntArrayRef({8, 12}));
  EXPECT_EQ(names(*cross).count("attn1.to_q.bias"), 0u);  // q/k/v without bias
  EXPECT_EQ(names(*cross).count("attn1.to_out.0.bias"), 1u);

  ResnetBlock2D vae_res(8, 8, 0, 4, 1e-6);
  EXPECT_EQ(names(*vae_res).count("time_emb_proj.weight"), 0u);
  EXPECT_EQ(names(*vae_res).count("conv_shortcut.weight"), 0u);

  TemporalConvLayer tc(8, 8, 4);
  const std::set<std::string> expected_tc = {
      "conv1.0.weight", "conv1.0.bias", "conv1.2.weight", "conv1.2.bias",
      "conv2.0.weight", "conv2.0.bias", "conv2.3.weight", "conv2.3.bias",
      "conv3.0.weight", "conv3.0.bias", "conv3.3.weight", "conv3.3.bias",
      "conv4.0.weight", "conv4.0.bias", "conv4.3.weight", "conv4.3.bias"};
  EXPECT_EQ(names(*tc), expected_tc);
}

TEST(Errors, BadInputsGiveShapeErrors) {
  torch::NoGradGuard ng;
  ResnetBlock2D res(16, 8, 10, 4, 1e-5);
  EXPECT_THROW(res->forward(at::zeros({2, 8, 4, 4})), ShapeError);
  EXPECT_THROW(res->forward(at::zeros({2, 16, 4})), ShapeError);
  EXPECT_THROW(res->forward(at::zeros({2, 16, 4, 4}), at::zeros({2, 9})), ShapeError);
  EXPECT_THROW(res->forward(at::zeros({2, 16, 4, 4}), at::zeros({3, 10})), ShapeError);

  TemporalConvLayer tc(16, 16, 4);
  EXPECT_THROW(tc->forward(at::zeros({6, 16, 2, 2}), 4), ShapeError);
  EXPECT_THROW(tc->forward(at::zeros({8, 16, 2, 2}), 0), ShapeError);
  EXPECT_THROW(tc->forward(at::zeros({8, 12, 2, 2}), 4), ShapeError);

  TransformerTemporalModel tt(16, 2, 8, 4);
  EXPECT_THROW(tt->forward(at::zeros({6, 16, 2, 2}), 4), ShapeError);
  EXPECT_THROW(tt->forward(at::zeros({8, 8, 2, 2}), 4), ShapeError);

  Transformer2DModel t2d(16, 2, 8, 12, 4);
  EXPECT_THROW(t2d->forward(at::zeros({2, 16, 3, 3}), at::zeros({2, 7, 10})), ShapeError);
  EXPECT_THROW(t2d->forward(at::zeros({2, 16, 3, 3}), at::zeros({3, 7, 12})), ShapeError);
  EXPECT_THROW(t2d->forward(at::zeros({2, 8, 3, 3}), at::zeros({2, 7, 12})), ShapeError);

  AttentionOptions o;
  o.query_dim = 8;
  o.heads = 2;
  o.dim_head = 4;
  Attention attn(o);
  EXPECT_THROW(attn->forward(at::zeros({2, 5, 6})), ShapeError);
  EXPECT_THROW(attn->forward(at::zeros({2, 5})), ShapeError);
  EXPECT_THROW(attn->forward(at::zeros({2, 5, 8}), at::zeros({2, 3, 7})), ShapeError);

  EXPECT_THROW(Downsample2D(4, 4, 1)->forward(at::zeros({1, 3, 8, 8})), ShapeError);
  EXPECT_THROW(Upsample2D(4, 4)->forward(at::zeros({1, 4, 8})), ShapeError);
}

TEST(Chunking, ScopedAttentionBudgetOverridesThisThreadOnlyAndRestores) {
  const int64_t before = attention_score_budget();
  {
    ScopedAttentionScoreBudget outer(1000);
    EXPECT_EQ(attention_score_budget(), 1000);
    {
      ScopedAttentionScoreBudget none(0);  // 0: no override, the outer one stays
      EXPECT_EQ(attention_score_budget(), 1000);
      ScopedAttentionScoreBudget inner(10);
      EXPECT_EQ(attention_score_budget(), 10);
    }
    EXPECT_EQ(attention_score_budget(), 1000);
    int64_t other_thread = 0;
    std::thread([&] { other_thread = attention_score_budget(); }).join();
    EXPECT_EQ(other_thread, before);
  }
  EXPECT_EQ(attention_score_budget(), before);
}

}  // namespace
}  // namespace i2v::nn
