// 8-bit weights: the fp8 codec, per-channel quantization, exact dequantization (bit for bit
// against a float64 reference of scale·q), the registry, and the skip list.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "i2v/error.h"
#include "i2v/io/fp8.h"
#include "i2v/quant/dequantize.h"
#include "i2v/quant/quantize.h"
#include "i2v/quant/quantized_weight.h"
#include "i2v/quant/skip_list.h"

namespace i2v::quant {
namespace {

using io::Fp8Format;

// The value of fp8 bits by the definition (sign, exponent, mantissa), in double.
double fp8_reference(uint8_t b, Fp8Format f) {
  const int mbits = f == Fp8Format::E4M3 ? 3 : 2, bias = f == Fp8Format::E4M3 ? 7 : 15;
  const int ebits = 7 - mbits;
  const int sign = b >> 7, exp = (b >> mbits) & ((1 << ebits) - 1), man = b & ((1 << mbits) - 1);
  double v = exp == 0 ? std::ldexp(man, 1 - bias - mbits)
                      : std::ldexp((1 << mbits) + man, exp - bias - mbits);
  return sign ? -v : v;
}

bool is_special(uint8_t b, Fp8Format f) {
  if (f == Fp8Format::E4M3) return (b & 0x7F) == 0x7F;
  return ((b >> 2) & 0x1F) == 0x1F;
}

TEST(Fp8, DecodesEveryCodeByDefinitionAndRoundTrips) {
  for (Fp8Format f : {Fp8Format::E4M3, Fp8Format::E5M2}) {
    for (int b = 0; b < 256; ++b) {
      const uint8_t bits = static_cast<uint8_t>(b);
      const float v = io::decode_fp8(bits, f);
      if (is_special(bits, f)) {
        if (f == Fp8Format::E4M3 || (bits & 3))
          EXPECT_TRUE(std::isnan(v)) << b;
        else
          EXPECT_TRUE(std::isinf(v)) << b;
        continue;
      }
      EXPECT_EQ(static_cast<double>(v), fp8_reference(bits, f)) << b;
      EXPECT_EQ(io::fp8_table(f)[b], v);
      if (v == 0 && (bits & 0x80)) continue;  // -0 encodes as -0 too, checked below
      EXPECT_EQ(io::encode_fp8(v, f), bits) << "format " << int(f) << " code " << b;
    }
    EXPECT_EQ(io::encode_fp8(-0.0f, f), 0x80);
  }
  EXPECT_EQ(io::fp8_max(Fp8Format::E4M3), 448.0f);
  EXPECT_EQ(io::fp8_max(Fp8Format::E5M2), 57344.0f);
}

TEST(Fp8, EncodesToNearestTiesToEvenAndSaturates) {
  for (Fp8Format f : {Fp8Format::E4M3, Fp8Format::E5M2}) {
    // Every pair of neighbouring positive finite values: just below the midpoint goes down,
    // just above goes up, the midpoint itself to the even code.
    for (int b = 0; b + 1 < 256 && !is_special(static_cast<uint8_t>(b + 1), f); ++b) {
      const double lo = fp8_reference(static_cast<uint8_t>(b), f);
      const double hi = fp8_reference(static_cast<uint8_t>(b + 1), f);
      const float mid = static_cast<float>((lo + hi) / 2);  // exact in float
      ASSERT_EQ(static_cast<double>(mid), (lo + hi) / 2);
      EXPECT_EQ(io::encode_fp8(std::nextafter(mid, 0.0f), f), b);
      EXPECT_EQ(io::encode_fp8(std::nextafter(mid, 1e9f), f), b + 1);
      EXPECT_EQ(io::encode_fp8(mid, f), (b % 2 == 0) ? b : b + 1) << "tie at code " << b;
    }
    EXPECT_EQ(io::decode_fp8(io::encode_fp8(1e30f, f), f), io::fp8_max(f));
    EXPECT_EQ(io::decode_fp8(io::encode_fp8(-1e30f, f), f), -io::fp8_max(f));
    EXPECT_TRUE(std::isnan(io::decode_fp8(io::encode_fp8(NAN, f), f)));
  }
}

// double -> bf16 bits, round to nearest even, computed in double (no float32 step).
uint16_t bf16_reference(double x) {
  if (x == 0) return std::signbit(x) ? 0x8000 : 0;
  int e = 0;
  const double m = std::frexp(std::fabs(x), &e);      // [0.5, 1)
  const double r = std::nearbyint(std::ldexp(m, 8));  // 8 significant bits, ties to even
  const float v = static_cast<float>(std::ldexp(r, e - 8)) * (x < 0 ? -1.0f : 1.0f);  // exact
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return static_cast<uint16_t>(u >> 16);
}

double decoded(const at::Tensor& q, int64_t i, WeightFormat f) {
  if (f == WeightFormat::Int8) return q.data_ptr<int8_t>()[i];
  return fp8_reference(q.data_ptr<uint8_t>()[i], fp8_format(f));
}

TEST(Dequantize, EqualsFloat64ScaleTimesQRoundedOnce) {
  std::mt19937 rng(7);
  for (WeightFormat f : {WeightFormat::Int8, WeightFormat::Fp8E4M3, WeightFormat::Fp8E5M2}) {
    const int64_t rows = 64, cols = 257;
    at::Tensor q = at::empty({rows, cols}, holding_dtype(f));
    for (int64_t i = 0; i < q.numel(); ++i) {
      uint8_t b = static_cast<uint8_t>(rng());
      if (f != WeightFormat::Int8) {
        while (is_special(b, fp8_format(f))) b = static_cast<uint8_t>(rng());
        q.data_ptr<uint8_t>()[i] = b;
      } else {
        q.data_ptr<int8_t>()[i] = static_cast<int8_t>(b == 0x80 ? 0 : b);
      }
    }
    // Scales with full 24-bit mantissas, so products are rarely representable.
    at::Tensor scale = at::empty({rows}, at::kFloat);
    std::uniform_real_distribution<float> u(1e-4f, 3e-2f);
    for (int64_t r = 0; r < rows; ++r) scale.data_ptr<float>()[r] = u(rng);
    QuantizedWeight w{f, scale};
    at::Tensor f32 = dequantize(q, w, at::kFloat);
    at::Tensor bf16 = dequantize(q, w, at::kBFloat16);
    int64_t wrong32 = 0, wrong16 = 0;
    for (int64_t i = 0; i < q.numel(); ++i) {
      const double exact =
          decoded(q, i, f) * static_cast<double>(scale.data_ptr<float>()[i / cols]);
      wrong32 += f32.data_ptr<float>()[i] != static_cast<float>(exact);
      uint16_t got;
      std::memcpy(&got, static_cast<const uint16_t*>(bf16.data_ptr()) + i, 2);
      wrong16 += got != bf16_reference(exact);
    }
    EXPECT_EQ(wrong32, 0) << to_string(f);
    EXPECT_EQ(wrong16, 0) << to_string(f);
  }
}

TEST(Dequantize, BreaksBf16TiesByTheExactProduct) {
  // Cases where the float32 product lands exactly halfway between two bf16 values while the
  // exact product does not: a plain float32-then-bf16 cast rounds half of them the wrong way.
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(0.5f, 1.0f);
  int found = 0, naive_wrong = 0;
  for (int attempt = 0; attempt < 2000000 && found < 50; ++attempt) {
    const float s = u(rng);
    const int8_t qv = static_cast<int8_t>(1 + rng() % 127);
    const float p = qv * s;
    uint32_t bits;
    std::memcpy(&bits, &p, 4);
    if ((bits & 0xffff) != 0x8000 || std::fma(static_cast<float>(qv), s, -p) == 0) continue;
    ++found;
    at::Tensor q = at::full({1, 1}, qv, at::kChar);
    at::Tensor out =
        dequantize(q, {WeightFormat::Int8, at::full({1}, s, at::kFloat)}, at::kBFloat16);
    uint16_t got;
    std::memcpy(&got, out.data_ptr(), 2);
    const uint16_t want = bf16_reference(static_cast<double>(qv) * s);
    EXPECT_EQ(got, want);
    naive_wrong += at::scalar_tensor(p).to(at::kBFloat16).item<at::BFloat16>().x != want;
  }
  EXPECT_GE(found, 10);
  EXPECT_GT(naive_wrong, 0);  // the cases are real: the naive cast gets some wrong
}

TEST(Quantize, PerChannelScalesAndErrorBounds) {
  at::manual_seed(3);
  at::Tensor w = at::randn({16, 8, 3, 3}) * at::linspace(0.01, 2.0, 16).view({16, 1, 1, 1});
  w[5].zero_();
  for (WeightFormat f : {WeightFormat::Int8, WeightFormat::Fp8E4M3, WeightFormat::Fp8E5M2}) {
    QuantizedTensor q = quantize_per_channel(w.to(at::kBFloat16), f);
    ASSERT_EQ(q.q.sizes(), w.sizes());
    ASSERT_EQ(q.q.scalar_type(), holding_dtype(f));
    ASSERT_EQ(q.scale.sizes(), at::IntArrayRef({16}));
    at::Tensor wb = w.to(at::kBFloat16).to(at::kFloat);
    at::Tensor amax = std::get<0>(wb.view({16, -1}).abs().max(1));
    EXPECT_EQ(q.scale[5].item<float>(), 1.0f);  // all-zero row
    at::Tensor back = dequantize(q.q, {f, q.scale}, at::kFloat);
    EXPECT_TRUE(at::equal(back[5], at::zeros_like(back[5])));
    for (int64_t r = 0; r < 16; ++r) {
      if (r == 5) continue;
      EXPECT_FLOAT_EQ(q.scale[r].item<float>(), amax[r].item<float>() / max_magnitude(f));
      const at::Tensor err = (back[r] - wb[r]).abs();
      if (f == WeightFormat::Int8) {
        // Rounding to the nearest integer step: at most half a step (plus float slack).
        EXPECT_LE(err.max().item<float>(), q.scale[r].item<float>() * 0.5001f);
      } else {
        // Nearest fp8 value: relative error at most 2^-(mantissa bits + 1) in the normal range.
        const float rel = f == WeightFormat::Fp8E4M3 ? 1.0f / 16 : 1.0f / 8;
        const at::Tensor bound = wb[r].abs() * rel + q.scale[r] * 0.002f;
        EXPECT_TRUE((err <= bound * 1.0001f).all().item<bool>()) << to_string(f) << " row " << r;
      }
      // The largest magnitude maps exactly onto the format's largest value.
      EXPECT_NEAR(back[r].abs().max().item<float>(), amax[r].item<float>(),
                  amax[r].item<float>() * 1e-6);
    }
  }
  EXPECT_THROW(quantize_per_channel(at::ones({4}), WeightFormat::Int8), ShapeError);
  EXPECT_THROW(quantize_per_channel(at::full({2, 2}, NAN), WeightFormat::Int8), ShapeError);
}

TEST(QuantizedWeightRegistry, FindsMarkedTensorsAndTheirViewsOnly) {
  at::Tensor q = at::ones({4, 3}, at::kChar);
  EXPECT_FALSE(quantization_of(q).has_value());
  mark_quantized(q, {WeightFormat::Int8, at::full({4}, 0.5f)});
  auto found = quantization_of(q);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->format, WeightFormat::Int8);
  EXPECT_TRUE(at::equal(found->scale, at::full({4}, 0.5f)));
  EXPECT_TRUE(quantization_of(q.variable_data()).has_value());  // same storage
  EXPECT_FALSE(quantization_of(q.clone()).has_value());
  EXPECT_FALSE(quantization_of(q.to(at::kFloat)).has_value());
  EXPECT_THROW(mark_quantized(q, {WeightFormat::Int8, at::ones({3})}), ShapeError);
  EXPECT_THROW(mark_quantized(q, {WeightFormat::Fp8E4M3, at::ones({4})}), ShapeError);
}

TEST(SkipList, KeepsNormsEmbeddingsEdgesAndProjections) {
  const std::vector<int64_t> mat{320, 320}, conv{320, 320, 3, 3}, vec{320};
  // Quantized: the repeated blocks' matrices and kernels.
  for (const char* name : {"down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight",
                           "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_out.0.weight",
                           "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj.weight",
                           "up_blocks.1.temp_attentions.0.transformer_blocks.0.ff.net.2.weight",
                           "mid_block.resnets.0.time_emb_proj.weight",
                           "transformer_in.transformer_blocks.0.attn1.to_k.weight"})
    EXPECT_FALSE(keeps_precision("unet", name, mat).has_value()) << name;
  for (const char* name :
       {"down_blocks.1.resnets.0.conv1.weight", "up_blocks.0.upsamplers.0.conv.weight",
        "down_blocks.0.downsamplers.0.conv.weight", "down_blocks.0.temp_convs.0.conv1.1.weight"})
    EXPECT_FALSE(keeps_precision("unet", name, conv).has_value()) << name;
  // Kept.
  for (const char* name :
       {"conv_in.weight", "conv_out.weight", "time_embedding.linear_1.weight",
        "fps_embedding.linear_2.weight", "context_embedding.0.weight",
        "image_latents_proj_in.0.weight", "image_latents_temporal_encoder.attn1.to_q.weight",
        "image_latents_context_embedding.0.weight", "down_blocks.0.attentions.0.proj_in.weight",
        "up_blocks.3.temp_attentions.0.proj_out.weight", "transformer_in.proj_in.weight",
        "down_blocks.0.resnets.0.norm1.weight"})
    EXPECT_TRUE(keeps_precision("unet", name, mat).has_value()) << name;
  EXPECT_TRUE(keeps_precision("unet", "down_blocks.0.resnets.0.conv1.bias", vec).has_value());
  EXPECT_TRUE(keeps_precision("unet", "down_blocks.0.resnets.0.conv1.weight", vec).has_value());
  // CLIP.
  EXPECT_FALSE(
      keeps_precision("text_encoder", "text_model.encoder.layers.0.self_attn.q_proj.weight", mat));
  EXPECT_FALSE(
      keeps_precision("image_encoder", "vision_model.encoder.layers.3.mlp.fc1.weight", mat));
  for (const char* name :
       {"text_model.embeddings.token_embedding.weight",
        "text_model.embeddings.position_embedding.weight", "text_projection.weight",
        "visual_projection.weight", "vision_model.embeddings.patch_embedding.weight",
        "vision_model.pre_layrnorm.weight"})
    EXPECT_TRUE(keeps_precision("image_encoder", name, mat).has_value()) << name;
  EXPECT_TRUE(is_quantizable_component("unet"));
  EXPECT_FALSE(is_quantizable_component("vae"));
}

}  // namespace
}  // namespace i2v::quant
