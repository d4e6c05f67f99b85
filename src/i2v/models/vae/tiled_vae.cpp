#include "i2v/models/vae/tiled_vae.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>
#include <vector>

#include "i2v/error.h"

namespace i2v::vae {

namespace {

// How the tiles of an input map to the output: edges and strides in input units, blend width
// and kept extent in output units, and where a tile starting at input position p lands.
struct TileLayout {
  int64_t in_tile = 0, in_stride = 0;
  int64_t out_blend = 0, out_keep = 0;
  int64_t out_height = 0, out_width = 0;
  std::function<int64_t(int64_t)> out_position;
};

// The last `extent` rows (dim 2) or columns (dim 3) of a tile, copied so that the tile itself can
// be freed: all the next tiles need from it.
at::Tensor trailing_strip(const at::Tensor& tile, int64_t extent, int64_t dim) {
  const int64_t e = std::min(extent, tile.size(dim));
  if (e <= 0) return {};
  return tile.narrow(dim, tile.size(dim) - e, e).clone();
}

// Tile starts 0, stride, 2 * stride, ... below `extent` whose tile reaches at least one output
// row (an encode tile narrower than the scale factor gives none).
std::vector<int64_t> tile_starts(int64_t extent, const TileLayout& layout, int64_t out_extent) {
  std::vector<int64_t> starts;
  for (int64_t p = 0; p < extent; p += layout.in_stride)
    if (layout.out_position(p) < out_extent) starts.push_back(p);
  return starts;
}

// diffusers' tiled loop, one tile alive at a time: each tile is blended with the strip above it
// and the strip to its left (both already blended, as diffusers blends its tiles in place), its
// kept corner is written into the output, and its own trailing strips are kept for the next.
at::Tensor run_tiled(const at::Tensor& input, const TileLayout& layout,
                     const std::function<at::Tensor(const at::Tensor&)>& run_tile) {
  const std::vector<int64_t> rows = tile_starts(input.size(2), layout, layout.out_height);
  const std::vector<int64_t> cols = tile_starts(input.size(3), layout, layout.out_width);
  at::Tensor out;
  std::vector<at::Tensor> strips_above(cols.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    at::Tensor strip_left;
    for (size_t c = 0; c < cols.size(); ++c) {
      at::Tensor tile = run_tile(input.slice(2, rows[r], rows[r] + layout.in_tile)
                                     .slice(3, cols[c], cols[c] + layout.in_tile));
      if (r > 0) blend_edge(strips_above[c], tile, layout.out_blend, 2);
      if (c > 0) blend_edge(strip_left, tile, layout.out_blend, 3);
      if (!out.defined())
        out = at::empty({tile.size(0), tile.size(1), layout.out_height, layout.out_width},
                        tile.options());
      const int64_t y = layout.out_position(rows[r]), x = layout.out_position(cols[c]);
      const int64_t kh = std::min(layout.out_keep, tile.size(2));
      const int64_t kw = std::min(layout.out_keep, tile.size(3));
      TORCH_INTERNAL_ASSERT(y + kh <= layout.out_height && x + kw <= layout.out_width,
                            "tiled VAE: a tile falls outside the output");
      out.slice(2, y, y + kh).slice(3, x, x + kw).copy_(tile.slice(2, 0, kh).slice(3, 0, kw));
      strips_above[c] = trailing_strip(tile, layout.out_blend, 2);
      strip_left = trailing_strip(tile, layout.out_blend, 3);
    }
  }
  return out;
}

std::string number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

void validate_tiling(const VaeTiling& tiling, const VaeConfig& config) {
  const int64_t scale = config.spatial_scale_factor();
  if (tiling.tile_sample_size != 0 &&
      (tiling.tile_sample_size < scale || tiling.tile_sample_size % scale != 0))
    throw ConfigError(
        "VaeTiling.tile_sample_size must be 0 (no tiling) or a positive multiple "
        "of the VAE's spatial scale factor " +
        std::to_string(scale) + " (pixels per latent), got " +
        std::to_string(tiling.tile_sample_size));
  if (!(tiling.overlap >= 0.0 && tiling.overlap <= 0.5))
    throw ConfigError("VaeTiling.overlap must be a fraction of the tile in [0, 0.5], got " +
                      number(tiling.overlap));
}

TileGeometry tile_geometry(const VaeTiling& tiling, const VaeConfig& config) {
  validate_tiling(tiling, config);
  TileGeometry g;
  g.tile = tiling.tile_sample_size / config.spatial_scale_factor();
  // The epsilon keeps T * overlap that is a whole number in decimal (e.g. 0.3 * 10) whole.
  g.overlap = static_cast<int64_t>(std::floor(static_cast<double>(g.tile) * tiling.overlap + 1e-9));
  return g;
}

void blend_edge(const at::Tensor& previous, at::Tensor& next, int64_t extent, int64_t dim) {
  if (extent <= 0 || !previous.defined()) return;
  const int64_t e = std::min({extent, previous.size(dim), next.size(dim)});
  if (e <= 0) return;
  // Weights k / e and 1 - k / e in double, as diffusers' Python scalars, then in the compute type.
  const at::ScalarType compute =
      next.scalar_type() == at::kHalf || next.scalar_type() == at::kBFloat16 ? at::kFloat
                                                                             : next.scalar_type();
  std::vector<int64_t> shape(next.dim(), 1);
  shape[dim] = e;
  at::Tensor w_next =
      (at::arange(e, at::TensorOptions().dtype(at::kDouble)) / static_cast<double>(e))
          .reshape(shape);
  at::Tensor w_previous = (1.0 - w_next).to(next.device(), compute);
  w_next = w_next.to(next.device(), compute);
  at::Tensor head = next.narrow(dim, 0, e);
  at::Tensor tail = previous.narrow(dim, previous.size(dim) - e, e);
  head.copy_(tail.to(compute) * w_previous + head.to(compute) * w_next);
}

at::Tensor decode_tiled(AutoencoderKLImpl& vae, const at::Tensor& z_images,
                        const VaeTiling& tiling) {
  validate_tiling(tiling, vae.config());
  // Off, one tile, or a malformed input (vae.decode names the shape problem): the plain path.
  if (!tiling.enabled() || !z_images.defined() || z_images.dim() != 4) return vae.decode(z_images);
  const TileGeometry g = tile_geometry(tiling, vae.config());
  if (z_images.size(2) <= g.tile && z_images.size(3) <= g.tile) return vae.decode(z_images);

  const int64_t s = vae.config().spatial_scale_factor();
  TileLayout layout;
  layout.in_tile = g.tile;
  layout.in_stride = g.stride();
  layout.out_blend = g.overlap * s;
  layout.out_keep = g.stride() * s;
  layout.out_height = z_images.size(2) * s;
  layout.out_width = z_images.size(3) * s;
  layout.out_position = [s](int64_t p) { return p * s; };
  return run_tiled(z_images, layout, [&](const at::Tensor& tile) { return vae.decode(tile); });
}

at::Tensor encode_moments_tiled(AutoencoderKLImpl& vae, const at::Tensor& pixels,
                                const VaeTiling& tiling) {
  validate_tiling(tiling, vae.config());
  if (!tiling.enabled() || !pixels.defined() || pixels.dim() != 4)
    return vae.encode_moments(pixels);
  const TileGeometry g = tile_geometry(tiling, vae.config());
  const int64_t s = vae.config().spatial_scale_factor();
  if (pixels.size(2) <= g.tile * s && pixels.size(3) <= g.tile * s)
    return vae.encode_moments(pixels);

  TileLayout layout;
  layout.in_tile = g.tile * s;
  layout.in_stride = g.stride() * s;
  layout.out_blend = g.overlap;
  layout.out_keep = g.stride();
  // The plain encoder maps H pixels to floor(H / s) latents (each downsampler floors).
  layout.out_height = pixels.size(2) / s;
  layout.out_width = pixels.size(3) / s;
  layout.out_position = [s](int64_t p) { return p / s; };
  if (layout.out_height == 0 || layout.out_width == 0) return vae.encode_moments(pixels);
  return run_tiled(pixels, layout,
                   [&](const at::Tensor& tile) { return vae.encode_moments(tile); });
}

Posterior encode_tiled(AutoencoderKLImpl& vae, const at::Tensor& pixels, const VaeTiling& tiling) {
  return posterior_from_moments(encode_moments_tiled(vae, pixels, tiling));
}

}  // namespace i2v::vae
