// The pipeline's image inputs, prepared exactly as diffusers' I2VGenXLPipeline does: the CLIP
// branch (centre-crop-wide to a square, BILINEAR to the encoder's crop size, CLIP normalisation)
// and the VAE branch (centre-crop-wide to the video size, scaled to [-1, 1]).
#pragma once

#include <ATen/ATen.h>

#include <array>

#include "i2v/image/rgb_image.h"

namespace i2v::image {

struct ClipNormalization {
  int crop_width = 224, crop_height = 224;
  std::array<float, 3> mean = {0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std = {0.26862954f, 0.26130258f, 0.27577711f};
};

// _center_crop_wide(image, (width, width)) then BILINEAR resize to the crop size.
RgbImage clip_input_image(const RgbImage& image, int video_width, const ClipNormalization& n);
// _center_crop_wide(image, (width, height)).
RgbImage vae_input_image(const RgbImage& image, int video_width, int video_height);

// (1, 3, H, W) float32: (x / 255 - mean) / std, in float32 as numpy computes it.
at::Tensor clip_pixel_values(const RgbImage& clip_image, const ClipNormalization& n);
// (1, 3, H, W) float32: 2 * (x / 255) - 1.
at::Tensor vae_pixel_values(const RgbImage& vae_image);
// (H, W, 3) uint8 view of an image's pixels (copied).
at::Tensor to_uint8_tensor(const RgbImage& image);

}  // namespace i2v::image
