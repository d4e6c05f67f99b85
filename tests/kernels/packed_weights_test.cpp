// Packed weights kept across calls (kernels/packed_weights.h): the kept copy gives the bits of the
// per-call reorder, is made once per weight and layout, and is never matched for another weight:
// not after an in-place write, not for a new tensor at a freed one's address, not for per-call
// copies. Skipped without I2V_WITH_ONEDNN (then the kernels always decline).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "i2v/kernels/onednn_conv.h"
#include "i2v/kernels/onednn_gemm.h"
#include "i2v/kernels/packed_weights.h"

namespace {

using namespace i2v::kernels;

const auto kBf16 = at::TensorOptions().dtype(at::kBFloat16);

at::Tensor gemm(const at::Tensor& x, const at::Tensor& w, bool persistent) {
  at::Tensor y = at::empty({x.size(0), w.size(0)}, kBf16);
  EXPECT_TRUE(onednn_gemm(x, w, {}, y, false, persistent));
  return y;
}

TEST(PackedWeights, KeptCopyGivesTheSameBitsAndIsMadeOnce) {
  if (!onednn_gemm_enabled()) GTEST_SKIP() << "built without the direct oneDNN path";
  at::manual_seed(0);
  const at::Tensor x = at::randn({512, 96}, kBf16), w = at::randn({80, 96}, kBf16);
  const at::Tensor per_call = gemm(x, w, /*persistent=*/true);  // no scope: reordered per call
  EXPECT_FALSE(packed_weights_open());
  EXPECT_EQ(packed_weight_bytes(), 0);
  {
    PackedWeightScope scope;
    EXPECT_TRUE(packed_weights_open());
    EXPECT_TRUE(gemm(x, w, true).equal(per_call));
    EXPECT_EQ(packed_weight_count(), 1);
    EXPECT_GE(packed_weight_bytes(), w.numel() * 2);
    EXPECT_TRUE(gemm(x, w, true).equal(per_call));  // the kept copy
    EXPECT_EQ(packed_weight_count(), 1);
    // A per-call weight (dequantized, adapted) is never kept.
    gemm(x, w * 2, /*persistent=*/false);
    EXPECT_EQ(packed_weight_count(), 1);
    // A copy of 1 MiB and more lives in its own mapping: the same bits too.
    const at::Tensor x2 = at::randn({256, 640}, kBf16), big = at::randn({1024, 640}, kBf16);
    at::Tensor ref = at::empty({256, 1024}, kBf16);
    ASSERT_TRUE(onednn_gemm(x2, big, {}, ref, false, false));
    EXPECT_TRUE(gemm(x2, big, true).equal(ref));
    EXPECT_TRUE(gemm(x2, big, true).equal(ref));
    EXPECT_EQ(packed_weight_count(), 2);
    EXPECT_GE(packed_weight_bytes(), (w.numel() + big.numel()) * 2);
  }
  EXPECT_FALSE(packed_weights_open());
  EXPECT_EQ(packed_weight_bytes(), 0);
}

TEST(PackedWeights, AWrittenOrReplacedWeightIsPackedAgain) {
  if (!onednn_gemm_enabled()) GTEST_SKIP() << "built without the direct oneDNN path";
  at::manual_seed(1);
  const at::Tensor x = at::randn({256, 64}, kBf16);
  PackedWeightScope scope;
  at::Tensor w = at::randn({48, 64}, kBf16);
  gemm(x, w, true);
  // An in-place write bumps the version counter: the old copy must not be used.
  w.mul_(-1);
  at::Tensor expected = at::empty({256, 48}, kBf16);
  ASSERT_TRUE(onednn_gemm(x, w, {}, expected, false, false));
  EXPECT_TRUE(gemm(x, w, true).equal(expected));
  EXPECT_EQ(packed_weight_count(), 2);
  // New weights of the same shape, freed one after the other, often reuse the address: each is
  // its own weight.
  for (int i = 0; i < 4; ++i) {
    const at::Tensor wi = at::randn({48, 64}, kBf16);
    ASSERT_TRUE(onednn_gemm(x, wi, {}, expected, false, false));
    EXPECT_TRUE(gemm(x, wi, true).equal(expected)) << i;
  }
  // Two views of one storage (a temporal convolution's taps) are two weights.
  const at::Tensor w3 = at::randn({48, 64, 3}, kBf16);
  for (int k = 0; k < 3; ++k) {
    const at::Tensor tap = w3.select(2, k);
    ASSERT_TRUE(onednn_gemm(x, tap, {}, expected, false, false));
    EXPECT_TRUE(gemm(x, tap, true).equal(expected)) << k;
  }
}

// A set kept by its owner (a Generator's UNet) outlives the scopes that use it: the next scope
// reuses its copies; a weight written in place replaces its stale copy instead of adding one;
// between scopes nothing is packed into it.
TEST(PackedWeights, AKeptSetServesTheNextScopeAndReplacesStaleCopies) {
  if (!onednn_gemm_enabled()) GTEST_SKIP() << "built without the direct oneDNN path";
  at::manual_seed(4);
  const at::Tensor x = at::randn({256, 64}, kBf16);
  at::Tensor w = at::randn({48, 64}, kBf16);
  const at::Tensor expected = gemm(x, w, false);
  int packed_calls = 0;
  PackedWeights kept([&](const at::Tensor& source) {
    EXPECT_TRUE(source.is_same(w));
    ++packed_calls;
  });
  {
    PackedWeightScope scope(kept);
    EXPECT_TRUE(gemm(x, w, true).equal(expected));
  }
  const int64_t bytes = kept.bytes();
  EXPECT_GE(bytes, w.numel() * 2);
  EXPECT_EQ(kept.count(), 1);
  EXPECT_FALSE(packed_weights_open());
  EXPECT_EQ(packed_weight_bytes(), 0);  // no scope open
  gemm(x, w, true);                     // outside a scope: per call, not added
  EXPECT_EQ(kept.count(), 1);
  {
    PackedWeightScope scope(kept);
    EXPECT_EQ(packed_weight_bytes(), bytes);
    EXPECT_TRUE(gemm(x, w, true).equal(expected));
    EXPECT_EQ(kept.count(), 1);  // the kept copy
    w.mul_(-1);                  // written in place: packed again, in place of the stale copy
    EXPECT_TRUE(gemm(x, w, true).equal(gemm(x, w, false)));
    EXPECT_EQ(kept.count(), 2);
    EXPECT_EQ(kept.bytes(), bytes);
  }
  EXPECT_EQ(packed_calls, 2);
  kept.clear();
  EXPECT_EQ(kept.bytes(), 0);
  EXPECT_EQ(kept.count(), 0);
}

TEST(PackedWeights, SmallProductsAndImagesQualifyOnlyWithAKeptCopy) {
  if (!onednn_gemm_enabled()) GTEST_SKIP() << "built without the direct oneDNN path";
  at::manual_seed(2);
  const at::Tensor x = at::randn({32, 64}, kBf16), w = at::randn({48, 64}, kBf16);
  at::Tensor y = at::empty({32, 48}, kBf16);
  EXPECT_FALSE(onednn_gemm(x, w, {}, y, false, true));  // 32 rows: the reorder would dominate
  const at::Tensor img = at::randn({2, 16, 4, 4}, kBf16), k = at::randn({24, 16, 3, 3}, kBf16);
  EXPECT_FALSE(onednn_conv2d(img, k, {}, 1, 1, true).defined());
  PackedWeightScope scope;
  ASSERT_TRUE(onednn_gemm(x, w, {}, y, false, true));
  const at::Tensor ref = at::mm(x.to(at::kDouble), w.to(at::kDouble).t());
  EXPECT_LT((y.to(at::kDouble) - ref).abs().max().item<double>() / ref.abs().max().item<double>(),
            1.0 / 128);
  EXPECT_FALSE(onednn_gemm(x, w, {}, y, false, false));  // not kept: still declined
  const at::Tensor c = onednn_conv2d(img, k, {}, 1, 1, true);
  ASSERT_TRUE(c.defined());
  const at::Tensor cref = at::conv2d(img.to(at::kDouble), k.to(at::kDouble), {}, 1, 1);
  EXPECT_LT((c.to(at::kDouble) - cref).abs().max().item<double>() / cref.abs().max().item<double>(),
            1.0 / 128);
  EXPECT_EQ(packed_weight_count(), 2);
}

TEST(PackedWeights, ConvolutionKeptCopyGivesTheSameBits) {
  if (!onednn_gemm_enabled()) GTEST_SKIP() << "built without the direct oneDNN path";
  at::manual_seed(3);
  const at::Tensor x = at::randn({2, 24, 12, 12}, kBf16), w = at::randn({40, 24, 3, 3}, kBf16);
  const at::Tensor bias = at::randn({40}, kBf16);
  const at::Tensor per_call = onednn_conv2d(x, w, bias, 1, 1, true);
  ASSERT_TRUE(per_call.defined());
  PackedWeightScope scope;
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(onednn_conv2d(x, w, bias, 1, 1, true).equal(per_call));
  EXPECT_EQ(packed_weight_count(), 1);
}

// Images of 4x4 outputs and fewer run as one product on the kernel rearranged into rows, packed
// once and kept under the module's weight: the convolution's result to float32 rounding before
// the bf16 output, strided and padded alike.
TEST(PackedWeights, SmallImagesRunAsOneProductOnAKeptKernel) {
  if (!onednn_gemm_enabled()) GTEST_SKIP() << "built without the direct oneDNN path";
  at::manual_seed(5);
  const at::Tensor w = at::randn({48, 40, 3, 3}, kBf16), bias = at::randn({48}, kBf16);
  for (const int64_t stride : {1, 2}) {
    const int64_t size = 4 * stride;  // 4x4 outputs
    const at::Tensor x = at::randn({3, 40, size, size}, kBf16);
    const at::Tensor ref =
        at::conv2d(x.to(at::kDouble), w.to(at::kDouble), bias.to(at::kDouble), stride, 1);
    PackedWeights kept;
    PackedWeightScope scope(kept);
    for (const bool channels_last : {false, true}) {
      const at::Tensor in = channels_last ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
      const at::Tensor y = onednn_conv2d(in, w, bias, stride, 1, true);
      ASSERT_TRUE(y.defined());
      ASSERT_EQ(y.sizes(), ref.sizes());
      const double err =
          (y.to(at::kDouble) - ref).abs().max().item<double>() / ref.abs().max().item<double>();
      EXPECT_LT(err, 1.0 / 128) << stride << channels_last;
    }
    EXPECT_EQ(kept.count(), 1);  // rearranged and packed once, under w
    EXPECT_GE(kept.bytes(), w.numel() * 2);
  }
}

TEST(PackedWeights, DerivedWeightsAreBuiltOncePerScope) {
  const at::Tensor w = at::randn({4, 4});
  int builds = 0;
  auto build = [&] {
    ++builds;
    return w * 2;
  };
  derived_weight(w, "double", build);
  derived_weight(w, "double", build);
  EXPECT_EQ(builds, 2);  // no scope: built per call
  {
    PackedWeightScope scope;
    const at::Tensor a = derived_weight(w, "double", build);
    const at::Tensor b = derived_weight(w, "double", build);
    EXPECT_EQ(builds, 3);
    EXPECT_TRUE(a.is_same(b));
    EXPECT_TRUE(a.equal(w * 2));
    derived_weight(w, "other", build);  // another derivation of the same weight
    EXPECT_EQ(builds, 4);
    w.add_(1);  // written: built again from the new values
    EXPECT_TRUE(derived_weight(w, "double", build).equal(w * 2));
    EXPECT_EQ(builds, 5);
    PackedWeightScope nested;  // nested scopes share the outer one's copies
    derived_weight(w, "double", build);
    EXPECT_EQ(builds, 5);
  }
  derived_weight(w, "double", build);
  EXPECT_EQ(builds, 6);
}

}  // namespace
