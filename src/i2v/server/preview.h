// Cheap pictures for the page: a live preview of a step (frame 0 of the latents mapped to RGB by
// a fixed linear approximation of the VAE decoder, no VAE run) and JPEG/PNG encoding of frames.
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace i2v::server {

// latents: (B, C, F, h, w). Frame 0 of batch 0 as an RGB uint8 (H, W, 3) tensor, scaled up by
// whole factors to at least `min_side` pixels.
at::Tensor latent_preview_rgb(const at::Tensor& latents, int min_side = 128);

// image: (H, W, 3) uint8. Encoded bytes.
std::string encode_jpeg(const at::Tensor& image, int quality = 80);
std::string encode_png(const at::Tensor& image);

// Shrinks (H, W, 3) uint8 by a whole factor (box average) until the longer side is <= max_side.
at::Tensor shrink_to(const at::Tensor& image, int max_side);

}  // namespace i2v::server
