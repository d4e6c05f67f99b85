// Tiled VAE decode / encode (tiled_vae.h): a frame inside one tile takes the plain path bit for
// bit; real tiling equals a line-by-line transcription of diffusers' tiled_decode / tiled_encode
// (fp32, bit for bit), stays close to the plain result (approximate: the mid-block attention and
// the GroupNorms see one tile, not the frame), blends with a linear ramp, lowers the peak memory
// of a large frame, and refuses bad parameters with ConfigError.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "i2v/error.h"
#include "i2v/memory/memory_stats.h"
#include "i2v/models/vae/decode_frames.h"
#include "i2v/models/vae/tiled_vae.h"
#include "i2v/models/vae/vae_loading.h"
#include "vae/vae_test_util.h"

namespace i2v::vae {
namespace {

// The golden tiny VAE (block_out_channels [32, 64]: scale factor 2), fp32.
AutoencoderKL& golden_vae() {
  static AutoencoderKL vae = load_autoencoder_kl(test::vae_dir(), VaeLoadOptions{});
  return vae;
}

VaeTiling tiling(int64_t tile_sample_size, double overlap = 0.25) {
  VaeTiling t;
  t.tile_sample_size = tile_sample_size;
  t.overlap = overlap;
  return t;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// ---- diffusers 0.31 AutoencoderKL.blend_v / blend_h / tiled_decode / tiled_encode, transcribed
// literally (all tiles kept, blended in place row by row with Python-float weights, cropped and
// concatenated) as the reference for the streaming implementation.

void diffusers_blend(const at::Tensor& a, at::Tensor& b, int64_t blend_extent, int64_t dim) {
  blend_extent = std::min({a.size(dim), b.size(dim), blend_extent});
  for (int64_t y = 0; y < blend_extent; ++y) {
    const double t = static_cast<double>(y) / static_cast<double>(blend_extent);
    b.select(dim, y).copy_(a.select(dim, a.size(dim) - blend_extent + y) * (1 - t) +
                           b.select(dim, y) * t);
  }
}

at::Tensor diffusers_tiled(const at::Tensor& x, int64_t in_tile, int64_t overlap_size,
                           int64_t blend_extent, int64_t row_limit,
                           const std::function<at::Tensor(const at::Tensor&)>& run) {
  std::vector<std::vector<at::Tensor>> rows;
  for (int64_t i = 0; i < x.size(2); i += overlap_size) {
    std::vector<at::Tensor> row;
    for (int64_t j = 0; j < x.size(3); j += overlap_size)
      row.push_back(run(x.slice(2, i, i + in_tile).slice(3, j, j + in_tile)));
    rows.push_back(row);
  }
  std::vector<at::Tensor> result_rows;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::vector<at::Tensor> result_row;
    for (size_t j = 0; j < rows[i].size(); ++j) {
      at::Tensor& tile = rows[i][j];
      if (i > 0) diffusers_blend(rows[i - 1][j], tile, blend_extent, 2);
      if (j > 0) diffusers_blend(rows[i][j - 1], tile, blend_extent, 3);
      result_row.push_back(tile.slice(2, 0, row_limit).slice(3, 0, row_limit));
    }
    result_rows.push_back(at::cat(result_row, 3));
  }
  return at::cat(result_rows, 2);
}

// tile_latent_min_size = tile_latent, tile_overlap_factor = factor.
at::Tensor diffusers_tiled_decode(AutoencoderKLImpl& vae, const at::Tensor& z, int64_t tile_latent,
                                  double factor) {
  const int64_t sample = tile_latent * vae.config().spatial_scale_factor();
  const auto overlap_size = static_cast<int64_t>(tile_latent * (1 - factor));
  const auto blend_extent = static_cast<int64_t>(sample * factor);
  return diffusers_tiled(z, tile_latent, overlap_size, blend_extent, sample - blend_extent,
                         [&](const at::Tensor& t) { return vae.decode(t); });
}

at::Tensor diffusers_tiled_encode_moments(AutoencoderKLImpl& vae, const at::Tensor& x,
                                          int64_t tile_latent, double factor) {
  const int64_t sample = tile_latent * vae.config().spatial_scale_factor();
  const auto overlap_size = static_cast<int64_t>(sample * (1 - factor));
  const auto blend_extent = static_cast<int64_t>(tile_latent * factor);
  return diffusers_tiled(x, sample, overlap_size, blend_extent, tile_latent - blend_extent,
                         [&](const at::Tensor& t) { return vae.encode_moments(t); });
}

// ---- the blend

TEST(VaeTiling, BlendOfTwoConstantTilesIsALinearRamp) {
  for (int64_t dim : {2, 3}) {
    at::Tensor previous = at::full({1, 2, 6, 6}, 1.0);
    at::Tensor next = at::full({1, 2, 6, 6}, 3.0);
    blend_edge(previous, next, 4, dim);
    // Rows 0..3 along dim: 1 * (1 - k/4) + 3 * k/4 = 1 + k/2; then next's own value 3.
    const std::vector<double> expected{1.0, 1.5, 2.0, 2.5, 3.0, 3.0};
    for (int64_t k = 0; k < 6; ++k) {
      at::Tensor line = next.select(dim, k);
      EXPECT_TRUE(at::allclose(line, at::full_like(line, expected[k]), 0, 1e-7))
          << "dim " << dim << " row " << k;
    }
    EXPECT_TRUE(at::equal(previous, at::full({1, 2, 6, 6}, 1.0)));  // only `next` changes
  }
}

TEST(VaeTiling, BlendClampsItsWidthAndZeroWidthLeavesTheTile) {
  at::Tensor previous = at::full({1, 1, 2, 5}, -1.0);  // only 2 rows to blend from
  at::Tensor next = at::full({1, 1, 5, 5}, 1.0);
  blend_edge(previous, next, 4, 2);  // width min(4, 2, 5) = 2: weights 0, 1/2
  EXPECT_FLOAT_EQ(next[0][0][0][0].item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(next[0][0][1][0].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(next[0][0][2][0].item<float>(), 1.0f);
  at::Tensor untouched = at::rand({1, 1, 4, 4});
  at::Tensor copy = untouched.clone();
  blend_edge(at::zeros({1, 1, 4, 4}), untouched, 0, 3);
  EXPECT_TRUE(at::equal(untouched, copy));
}

TEST(VaeTiling, BlendMatchesDiffusersBitForBitAndWorksInBf16) {
  at::manual_seed(1);
  at::Tensor a = at::randn({2, 3, 9, 7}), b = at::randn({2, 3, 9, 7});
  for (int64_t dim : {2, 3}) {
    at::Tensor mine = b.clone(), reference = b.clone();
    blend_edge(a, mine, 5, dim);
    diffusers_blend(a, reference, 5, dim);
    EXPECT_EQ(max_abs_diff(mine, reference), 0.0) << "dim " << dim;
    at::Tensor half = b.to(at::kBFloat16);
    blend_edge(a.to(at::kBFloat16), half, 5, dim);
    EXPECT_EQ(half.scalar_type(), at::kBFloat16);
    EXPECT_LT(max_abs_diff(half, reference), 0.05);
  }
}

// ---- parameters

TEST(VaeTiling, GeometryInLatentUnits) {
  const VaeConfig& config = golden_vae()->config();  // scale factor 2
  TileGeometry g = tile_geometry(tiling(32), config);
  EXPECT_EQ(g.tile, 16);
  EXPECT_EQ(g.overlap, 4);
  EXPECT_EQ(g.stride(), 12);
  EXPECT_EQ(tile_geometry(tiling(8, 0.0), config).overlap, 0);
  EXPECT_EQ(tile_geometry(tiling(8, 0.5), config).overlap, 2);
  EXPECT_EQ(tile_geometry(tiling(20, 0.3), config).overlap, 3);  // 10 * 0.3, not 2.9999
  EXPECT_EQ(tile_geometry(tiling(2, 0.5), config).stride(), 1);  // a one-latent tile
  EXPECT_FALSE(VaeTiling{}.enabled());
}

TEST(VaeTiling, BadParametersAreConfigErrorsNamingTheParameter) {
  AutoencoderKLImpl& vae = *golden_vae();
  auto expect_error = [&](const VaeTiling& t, const std::string& parameter) {
    try {
      validate_tiling(t, vae.config());
      ADD_FAILURE() << "accepted tile " << t.tile_sample_size << " overlap " << t.overlap;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(parameter), std::string::npos) << e.what();
    }
  };
  expect_error(tiling(7), "tile_sample_size");  // not a multiple of 2
  expect_error(tiling(1), "tile_sample_size");  // below the scale factor
  expect_error(tiling(-8), "tile_sample_size");
  expect_error(tiling(8, -0.1), "overlap");
  expect_error(tiling(8, 0.6), "overlap");
  expect_error(tiling(8, std::nan("")), "overlap");
  // Every entry point validates, even when the frame would fit in one tile.
  at::NoGradGuard no_grad;
  EXPECT_THROW(decode_tiled(vae, at::zeros({1, 4, 4, 4}), tiling(7)), ConfigError);
  EXPECT_THROW(encode_tiled(vae, at::zeros({1, 3, 8, 8}), tiling(8, 0.75)), ConfigError);
  EXPECT_THROW(decode_frames(vae, at::zeros({1, 4, 2, 4, 4}), 1, tiling(3)), ConfigError);
  // Shape errors still come from the VAE.
  EXPECT_THROW(decode_tiled(vae, at::zeros({1, 3, 8, 8}), tiling(8)), ShapeError);
  EXPECT_THROW(decode_tiled(vae, at::zeros({4, 8, 8}), tiling(8)), ShapeError);
  EXPECT_THROW(encode_tiled(vae, at::Tensor(), tiling(8)), ShapeError);
}

// ---- decode

TEST(VaeTiling, DecodeOfAFrameInsideOneTileIsThePlainDecode) {
  AutoencoderKLImpl& vae = *golden_vae();
  at::NoGradGuard no_grad;
  at::manual_seed(2);
  at::Tensor z = at::randn({2, 4, 16, 12});
  at::Tensor plain = vae.decode(z);
  for (const VaeTiling& t : {VaeTiling{}, tiling(32), tiling(64), tiling(32, 0.0)})
    EXPECT_EQ(max_abs_diff(decode_tiled(vae, z, t), plain), 0.0) << t.tile_sample_size;
}

TEST(VaeTiling, DecodeTiledEqualsDiffusersTiledDecode) {
  AutoencoderKLImpl& vae = *golden_vae();
  at::NoGradGuard no_grad;
  at::manual_seed(3);
  struct Case {
    std::vector<int64_t> shape;
    int64_t tile_latent;
    double overlap;
  };
  for (const Case& c : {Case{{1, 4, 16, 16}, 4, 0.25}, Case{{2, 4, 12, 20}, 8, 0.25},
                        Case{{1, 4, 17, 9}, 4, 0.5}, Case{{1, 4, 10, 10}, 4, 0.0}}) {
    at::Tensor z = at::randn(c.shape);
    at::Tensor mine = decode_tiled(vae, z, tiling(c.tile_latent * 2, c.overlap));
    at::Tensor reference = diffusers_tiled_decode(vae, z, c.tile_latent, c.overlap);
    ASSERT_EQ(mine.sizes(), reference.sizes());
    EXPECT_EQ(mine.size(2), c.shape[2] * 2);
    EXPECT_EQ(max_abs_diff(mine, reference), 0.0)
        << "tile " << c.tile_latent << " overlap " << c.overlap;
  }
}

// Approximate: every tile runs the GroupNorms, the mid-block attention and the convolutions'
// zero padding on its own pixels. On this random-weight golden VAE the difference to plain is
// large for small tiles and shrinks as tiles grow (printed; diffusers gives the same numbers, see
// the test above). The yardstick is what running the VAE on one bare crop of the frame already
// costs (no tiling code involved): the blended tiles must do better than that, and a misplaced
// or unblended tile would not. The loose absolute bounds hold the measured values with margin.
struct TiledError {
  double max_relative = 0, mean_relative = 0;  // to absmax / mean |plain|
};

TiledError tiled_error(const std::string& what, const at::Tensor& tiled, const at::Tensor& plain) {
  EXPECT_EQ(tiled.sizes(), plain.sizes());
  EXPECT_TRUE(tiled.isfinite().all().item<bool>());
  const double absmax = plain.abs().max().item<double>();
  const double mean_abs = plain.abs().mean().item<double>();
  at::Tensor d = (tiled.to(at::kDouble) - plain.to(at::kDouble)).abs();
  TiledError e{d.max().item<double>() / absmax, d.mean().item<double>() / mean_abs};
  std::printf(
      "    %s: max |tiled - plain| = %.4f (%.3f of absmax %.3f), mean %.4f (%.3f of mean "
      "|plain| %.4f)\n",
      what.c_str(), d.max().item<double>(), e.max_relative, absmax, d.mean().item<double>(),
      e.mean_relative, mean_abs);
  return e;
}

TEST(VaeTiling, DecodeTiledIsCloseToPlainAndCloserWithLargerTiles) {
  AutoencoderKLImpl& vae = *golden_vae();
  at::NoGradGuard no_grad;
  at::manual_seed(4);
  at::Tensor z = at::randn({1, 4, 32, 32});
  at::Tensor plain = vae.decode(z);
  std::vector<TiledError> errors;
  for (int64_t tile : {8, 16, 32})  // 4x4, 8x8, 16x16 latent tiles
    errors.push_back(tiled_error("decode 32x32 latents, " + std::to_string(tile) + " px tiles",
                                 decode_tiled(vae, z, tiling(tile)), plain));
  // A bare 16x16-latent crop from the middle, decoded alone, against the same pixels of plain.
  const TiledError crop = tiled_error("decode of one bare 16x16-latent crop alone",
                                      vae.decode(z.slice(2, 8, 24).slice(3, 8, 24)),
                                      plain.slice(2, 16, 48).slice(3, 16, 48));
  EXPECT_GT(errors[2].mean_relative, 0.0);  // approximate: zero would mean no tiles were used
  EXPECT_LT(errors[2].mean_relative, crop.mean_relative);
  EXPECT_LT(errors[2].mean_relative, errors[1].mean_relative);
  EXPECT_LT(errors[1].mean_relative, errors[0].mean_relative);
  EXPECT_LT(errors[2].mean_relative, 0.35);
  EXPECT_LT(errors[2].max_relative, 0.5);
}

TEST(VaeTiling, DecodeFramesTilesEachChunk) {
  AutoencoderKLImpl& vae = *golden_vae();
  at::NoGradGuard no_grad;
  at::manual_seed(5);
  at::Tensor z = at::randn({1, 4, 3, 12, 12});
  // One frame per chunk: each frame is exactly its own tiled decode (other chunk sizes differ
  // from it only by batched-convolution rounding).
  at::Tensor tiled = decode_frames(vae, z, 1, tiling(8));
  ASSERT_EQ(tiled.sizes(), (std::vector<int64_t>{1, 3, 3, 24, 24}));
  for (int64_t f = 0; f < 3; ++f)
    EXPECT_EQ(max_abs_diff(tiled.select(2, f), decode_tiled(vae, z.select(2, f), tiling(8))), 0.0);
  EXPECT_LT(max_abs_diff(decode_frames(vae, z, 2, tiling(8)), tiled), 1e-4);
  // Frames inside one tile, and no tiling: the plain frame-chunked decode.
  at::Tensor plain = decode_frames(vae, z, 2);
  EXPECT_EQ(max_abs_diff(decode_frames(vae, z, 2, tiling(24)), plain), 0.0);
  EXPECT_EQ(max_abs_diff(decode_frames(vae, z, 2, VaeTiling{}), plain), 0.0);
}

TEST(VaeTiling, DecodeTiledInBf16FollowsFp32) {
  VaeLoadOptions options;
  options.dtype = at::kBFloat16;
  AutoencoderKL bf16 = load_autoencoder_kl(test::vae_dir(), options);
  at::NoGradGuard no_grad;
  at::manual_seed(11);
  at::Tensor z = at::randn({1, 4, 24, 24});
  at::Tensor tiled = decode_tiled(*bf16, z, tiling(16));
  EXPECT_EQ(tiled.scalar_type(), at::kBFloat16);
  EXPECT_LT(test::vae_report("bf16 tiled vs fp32 tiled", tiled,
                             decode_tiled(*golden_vae(), z, tiling(16))),
            5e-2);  // the golden bf16 tolerance (README)
}

// ---- encode

TEST(VaeTiling, EncodeOfAFrameInsideOneTileIsThePlainEncode) {
  AutoencoderKLImpl& vae = *golden_vae();
  at::NoGradGuard no_grad;
  at::manual_seed(6);
  at::Tensor x = at::rand({2, 3, 32, 24}) * 2 - 1;
  Posterior plain = vae.encode(x);
  for (const VaeTiling& t : {VaeTiling{}, tiling(32), tiling(48)}) {
    Posterior p = encode_tiled(vae, x, t);
    EXPECT_EQ(max_abs_diff(p.mean, plain.mean), 0.0);
    EXPECT_EQ(max_abs_diff(p.logvar, plain.logvar), 0.0);
    EXPECT_EQ(max_abs_diff(p.std, plain.std), 0.0);
  }
}

TEST(VaeTiling, EncodeTiledEqualsDiffusersTiledEncode) {
  AutoencoderKLImpl& vae = *golden_vae();
  at::NoGradGuard no_grad;
  at::manual_seed(7);
  at::Tensor x = at::rand({2, 3, 32, 40}) * 2 - 1;
  for (int64_t tile_latent : {4, 8}) {
    at::Tensor moments = encode_moments_tiled(vae, x, tiling(tile_latent * 2));
    at::Tensor reference = diffusers_tiled_encode_moments(vae, x, tile_latent, 0.25);
    ASSERT_EQ(moments.sizes(), reference.sizes());
    EXPECT_EQ(moments.size(2), 16);
    EXPECT_EQ(max_abs_diff(moments, reference), 0.0) << tile_latent;
    Posterior p = encode_tiled(vae, x, tiling(tile_latent * 2));
    Posterior from_reference = posterior_from_moments(reference);
    EXPECT_EQ(max_abs_diff(p.mean, from_reference.mean), 0.0);
    EXPECT_EQ(max_abs_diff(p.std, from_reference.std), 0.0);
  }
}

TEST(VaeTiling, EncodeTiledIsCloseToPlainAndCloserWithLargerTiles) {
  AutoencoderKLImpl& vae = *golden_vae();
  at::NoGradGuard no_grad;
  at::manual_seed(10);
  at::Tensor x = at::rand({1, 3, 64, 64}) * 2 - 1;
  Posterior plain = vae.encode(x);
  std::vector<TiledError> errors;
  for (int64_t tile : {8, 16, 32}) {
    Posterior p = encode_tiled(vae, x, tiling(tile));
    EXPECT_TRUE(p.std.isfinite().all().item<bool>());
    errors.push_back(
        tiled_error("encode 64x64 px, " + std::to_string(tile) + " px tiles, posterior mean",
                    p.mean, plain.mean));
  }
  const TiledError crop = tiled_error("encode of one bare 32x32 px crop alone, posterior mean",
                                      vae.encode(x.slice(2, 16, 48).slice(3, 16, 48)).mean,
                                      plain.mean.slice(2, 8, 24).slice(3, 8, 24));
  EXPECT_GT(errors[2].mean_relative, 0.0);
  EXPECT_LT(errors[2].mean_relative, crop.mean_relative);
  EXPECT_LT(errors[2].mean_relative, errors[1].mean_relative);
  EXPECT_LT(errors[1].mean_relative, errors[0].mean_relative);
  EXPECT_LT(errors[2].mean_relative, 0.35);
  EXPECT_LT(errors[2].max_relative, 0.5);
}

TEST(VaeTiling, EncodeTiledOfAnOddSizedFrameHasThePlainShape) {
  AutoencoderKLImpl& vae = *golden_vae();
  at::NoGradGuard no_grad;
  at::Tensor x = at::rand({1, 3, 33, 19}) * 2 - 1;  // last tiles narrower than a latent: skipped
  Posterior plain = vae.encode(x);
  Posterior tiled = encode_tiled(vae, x, tiling(8));
  EXPECT_EQ(tiled.mean.sizes(), plain.mean.sizes());
  EXPECT_TRUE(tiled.mean.isfinite().all().item<bool>());
}

// ---- peak memory: a KL-f8-shaped random VAE (4 levels, scale factor 8) on a 256x256 frame.

struct Measured {
  at::Tensor out;
  int64_t peak = 0;
  double seconds = 0;
};

Measured measure(const std::function<at::Tensor()>& run) {
  Measured m;
  const int64_t before = memory::cpu_allocated_bytes();
  memory::reset_cpu_peak();
  auto start = std::chrono::steady_clock::now();
  m.out = run();
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.peak = memory::cpu_peak_bytes() - before;
  return m;
}

TEST(VaeTiling, TiledPeaksLowerThanPlainOnALargeFrame) {
  ASSERT_TRUE(memory::install_counting_allocator());
  VaeConfig config;
  config.block_out_channels = {8, 16, 16, 16};
  config.down_block_types.assign(4, "DownEncoderBlock2D");
  config.up_block_types.assign(4, "UpDecoderBlock2D");
  config.norm_num_groups = 8;
  config.layers_per_block = 1;
  at::manual_seed(8);
  AutoencoderKL vae(config);
  vae->eval();
  at::NoGradGuard no_grad;
  at::Tensor z = at::randn({1, 4, 32, 32});      // 256x256 pixels
  const VaeTiling t = tiling(64);                // 8x8-latent tiles, 2 latents of overlap
  vae->decode(z.slice(2, 0, 8).slice(3, 0, 8));  // warm-up outside the measurement

  Measured plain = measure([&] { return vae->decode(z); });
  Measured tiled = measure([&] { return decode_tiled(*vae, z, t); });
  ASSERT_EQ(tiled.out.sizes(), plain.out.sizes());
  std::printf(
      "    decode 256x256 (scale 8, 64 px tiles): peak plain %s, tiled %s (%.2fx); "
      "%.3f s vs %.3f s; max |tiled - plain| %.4f of absmax %.4f\n",
      memory::format_bytes(plain.peak).c_str(), memory::format_bytes(tiled.peak).c_str(),
      static_cast<double>(plain.peak) / static_cast<double>(tiled.peak), plain.seconds,
      tiled.seconds, max_abs_diff(tiled.out, plain.out), plain.out.abs().max().item<double>());
  EXPECT_LT(tiled.peak, plain.peak);

  at::Tensor x = at::rand({1, 3, 256, 256}) * 2 - 1;
  Measured plain_enc = measure([&] { return vae->encode_moments(x); });
  Measured tiled_enc = measure([&] { return encode_moments_tiled(*vae, x, t); });
  ASSERT_EQ(tiled_enc.out.sizes(), plain_enc.out.sizes());
  std::printf(
      "    encode 256x256 (scale 8, 64 px tiles): peak plain %s, tiled %s (%.2fx); "
      "%.3f s vs %.3f s\n",
      memory::format_bytes(plain_enc.peak).c_str(), memory::format_bytes(tiled_enc.peak).c_str(),
      static_cast<double>(plain_enc.peak) / static_cast<double>(tiled_enc.peak), plain_enc.seconds,
      tiled_enc.seconds);
  EXPECT_LT(tiled_enc.peak, plain_enc.peak);
}

}  // namespace
}  // namespace i2v::vae

namespace i2v::vae {
namespace {

// Manual measurement (disabled by default): tiled decode error against plain on a 64x64 latent
// for growing tiles, white-noise latents and smooth (bilinearly upsampled) ones. Smooth content
// shows diffusers' known tile-to-tile shifts: each tile's GroupNorm removes its own mean.
// Run: test_vae --gtest_also_run_disabled_tests --gtest_filter='VaeTilingMeasure*'
TEST(VaeTilingMeasure, DISABLED_DecodeErrorVsTileSize) {
  AutoencoderKLImpl& vae = *golden_vae();
  at::NoGradGuard no_grad;
  at::manual_seed(9);
  at::Tensor noise = at::randn({1, 4, 64, 64});
  const std::vector<int64_t> size{64, 64};
  at::Tensor smooth =
      at::upsample_bilinear2d(at::randn({1, 4, 8, 8}), at::IntArrayRef(size), false);
  for (const at::Tensor* z : {&noise, &smooth}) {
    at::Tensor plain = vae.decode(*z);
    for (int64_t tile_latent : {8, 16, 32, 48})
      tiled_error(std::string(z == &noise ? "decode 64x64 noise latents, "
                                          : "decode 64x64 smooth latents, ") +
                      std::to_string(tile_latent * 2) + " px tiles",
                  decode_tiled(vae, *z, tiling(tile_latent * 2)), plain);
  }
}

}  // namespace
}  // namespace i2v::vae

namespace i2v::vae {
namespace {

// Manual measurement (disabled by default; the real VAE architecture with random weights, so run
// it under `flock /tmp/i2v-bigrun.lock`): one frame of $I2V_TILING_MEASURE_PX pixels (default
// 256) decoded and encoded plainly and with tiles of half its edge, fp32 and bf16: counted peak
// bytes and seconds.
// Run: test_vae --gtest_also_run_disabled_tests --gtest_filter='VaeTilingMeasure.*Official*'
TEST(VaeTilingMeasure, DISABLED_OfficialPeakAndTime) {
  ASSERT_TRUE(memory::install_counting_allocator());
  const char* env = std::getenv("I2V_TILING_MEASURE_PX");
  const int64_t px = env ? std::atoll(env) : 256;
  ASSERT_EQ(px % 16, 0) << "I2V_TILING_MEASURE_PX must be a multiple of 16";
  at::manual_seed(12);
  AutoencoderKL vae(VaeConfig::from_file(test::official_vae_config()));
  vae->eval();
  at::NoGradGuard no_grad;
  at::set_num_threads(2);  // both cores: the run holds the big-run lock
  std::printf("    threads: %d\n", at::get_num_threads());
  at::Tensor z = at::randn({1, 4, px / 8, px / 8});
  at::Tensor x = at::rand({1, 3, px, px}) * 2 - 1;
  const VaeTiling t = tiling(px / 2);
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    vae->to(dtype);
    const char* name = dtype == at::kFloat ? "fp32" : "bf16";
    Measured plain = measure([&] { return vae->decode(z); });
    Measured tiled = measure([&] { return decode_tiled(*vae, z, t); });
    Measured one_tile =
        measure([&] { return vae->decode(z.slice(2, 0, px / 16).slice(3, 0, px / 16)); });
    std::printf(
        "    %s decode %lldx%lld: peak plain %s (%.1f s), %lld px tiles %s (%.1f s), one "
        "tile alone %s; max |tiled - plain| %.4f of absmax %.4f\n",
        name, static_cast<long long>(px), static_cast<long long>(px),
        memory::format_bytes(plain.peak).c_str(), plain.seconds, static_cast<long long>(px / 2),
        memory::format_bytes(tiled.peak).c_str(), tiled.seconds,
        memory::format_bytes(one_tile.peak).c_str(), max_abs_diff(tiled.out, plain.out),
        plain.out.abs().max().item<double>());
    Measured plain_enc = measure([&] { return vae->encode_moments(x); });
    Measured tiled_enc = measure([&] { return encode_moments_tiled(*vae, x, t); });
    std::printf("    %s encode %lldx%lld: peak plain %s (%.1f s), tiled %s (%.1f s)\n", name,
                static_cast<long long>(px), static_cast<long long>(px),
                memory::format_bytes(plain_enc.peak).c_str(), plain_enc.seconds,
                memory::format_bytes(tiled_enc.peak).c_str(), tiled_enc.seconds);
    std::fflush(stdout);
  }
}

}  // namespace
}  // namespace i2v::vae
