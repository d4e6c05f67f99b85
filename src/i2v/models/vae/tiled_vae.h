// Tiled VAE decode and encode for frames larger than a tile: diffusers' AutoencoderKL
// tiled_decode / tiled_encode. The frame is cut into square tiles that overlap their right and
// lower neighbours, each tile goes through the VAE on its own, and every tile is blended linearly
// into the one above and the one to its left over the overlap before the tiles are cropped and
// put side by side.
//
// APPROXIMATE (blended), NOT EXACT: the VAE's mid-block attention attends over the whole frame
// and every GroupNorm takes its statistics over the whole frame, so a tile sees different
// statistics and context than the same pixels do in the full frame; the overlap and the linear
// blend hide the seams but the result differs from plain decode/encode (see tests/vae for the
// measured difference). Use it when the plain path does not fit; frame-chunked decode
// (decode_frames) is the exact memory saver.
//
// Geometry (latent units, s = VaeConfig::spatial_scale_factor()): tile T = tile_sample_size / s,
// overlap O = floor(T * overlap), stride T - O. Tiles start at 0, stride, 2 * stride, ... (as
// in diffusers, up to the last start before the frame's edge). Decode blends over O * s pixels
// and keeps (T - O) * s pixels of each tile; encode blends over O latents and keeps T - O.
// With T * overlap a whole number (the defaults: 0.25 of a multiple-of-4 latent tile) this is
// diffusers' arithmetic and result (fp32); diffusers rounds its stride and blend width
// separately otherwise, which can give a frame of the wrong size, so i2v uses one overlap O.
//
// Peak memory: only one tile's activations live at a time, plus the output and the overlap
// strips the next tiles blend with (diffusers keeps every decoded tile until the end).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

#include "i2v/models/vae/autoencoder_kl.h"
#include "i2v/models/vae/vae_config.h"

namespace i2v::vae {

struct VaeTiling {
  int64_t tile_sample_size = 0;  // tile edge in pixels; 0 = no tiling (the plain path)
  double overlap = 0.25;         // fraction of a tile shared with its neighbour, in [0, 0.5]

  bool enabled() const { return tile_sample_size != 0; }
};

// Tile sizes in latent units (see the geometry above).
struct TileGeometry {
  int64_t tile = 0;     // T: tile edge
  int64_t overlap = 0;  // O: rows / columns shared with the next tile
  int64_t stride() const { return tile - overlap; }
};

// ConfigError naming the parameter unless tile_sample_size is 0 or a positive multiple of the
// VAE's spatial scale factor (>= it) and overlap lies in [0, 0.5].
void validate_tiling(const VaeTiling& tiling, const VaeConfig& config);
// Validates, then the geometry of an enabled tiling.
TileGeometry tile_geometry(const VaeTiling& tiling, const VaeConfig& config);

// z: (N, latent_channels, h, w) latents ALREADY DIVIDED by the scaling factor, as for
// AutoencoderKLImpl::decode. Tiles when tiling is enabled and h or w exceeds the latent tile;
// otherwise this is exactly vae.decode(z). Returns (N, out_channels, h * s, w * s).
at::Tensor decode_tiled(AutoencoderKLImpl& vae, const at::Tensor& z_images,
                        const VaeTiling& tiling);

// pixels: (N, in_channels, H, W) in [-1, 1]. Tiles when tiling is enabled and H or W exceeds the
// pixel tile; otherwise this is exactly vae.encode(pixels). The blend works on the moments (mean
// and logvar, before the clamp), as in diffusers; the posterior is formed afterwards.
at::Tensor encode_moments_tiled(AutoencoderKLImpl& vae, const at::Tensor& pixels,
                                const VaeTiling& tiling);
Posterior encode_tiled(AutoencoderKLImpl& vae, const at::Tensor& pixels, const VaeTiling& tiling);

// diffusers' blend_v (dim 2) / blend_h (dim 3), in place on `next`: with e = min(extent,
// previous.size(dim), next.size(dim)), row k < e of `next` along `dim` becomes
// previous[size - e + k] * (1 - k / e) + next[k] * (k / e) — a linear ramp from the previous
// tile's last rows to the next tile's own. Computed in fp32 for reduced-precision tensors.
void blend_edge(const at::Tensor& previous, at::Tensor& next, int64_t extent, int64_t dim);

}  // namespace i2v::vae
