// A live preview of a denoising step without running the VAE: frame 0 of the latents mapped to
// RGB by a fixed linear approximation of the decoder.
#pragma once

#include <ATen/ATen.h>

namespace i2v::pipeline {

// latents: (B, C, F, h, w). Frame 0 of batch 0 as an RGB uint8 (H, W, 3) tensor, scaled up by
// whole factors to at least `min_side` pixels.
at::Tensor latent_preview_rgb(const at::Tensor& latents, int min_side = 128);

}  // namespace i2v::pipeline
