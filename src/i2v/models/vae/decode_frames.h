// Decoding video latents frame by frame (the pipeline's decode_chunk_size): the VAE is a per-image
// 2-D network, so any chunk size gives the same frames; it only bounds peak memory. Each chunk can
// also be decoded in spatial tiles (tiled_vae.h), which is approximate, not exact.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

#include "i2v/models/vae/autoencoder_kl.h"
#include "i2v/models/vae/tiled_vae.h"

namespace i2v::vae {

// z: (B, latent_channels, F, h, w) video latents ALREADY DIVIDED by the scaling factor. The frames
// are decoded in the order b * F + f, `chunk` images per decode call (chunk >= 1; ConfigError
// otherwise; a chunk larger than B * F decodes everything at once). Returns (B, out_channels, F,
// H, W) in the VAE's dtype. ShapeError for a z of another shape. With `tiling` enabled, each
// chunk goes through decode_tiled (frames that fit in one tile are still decoded plainly);
// ConfigError for invalid tiling parameters.
at::Tensor decode_frames(AutoencoderKLImpl& vae, const at::Tensor& z, int64_t chunk = 1,
                         const VaeTiling& tiling = {});

}  // namespace i2v::vae
