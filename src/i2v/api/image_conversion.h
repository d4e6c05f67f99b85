// Between the public picture types (i2v::Image, i2v::Video) and the library's (image::RgbImage,
// uint8 frame tensors).
#pragma once

#include <ATen/ATen.h>

#include "i2v/i2v.h"
#include "i2v/image/rgb_image.h"

namespace i2v::api {

image::RgbImage to_rgb_image(const Image& image);
Image to_image(const image::RgbImage& image);
// (H, W, 3) uint8 -> Image, and back (a copy).
Image to_image(const at::Tensor& hwc);
at::Tensor image_tensor(const Image& image);
// (F, H, W, 3) uint8 -> Video, and back (a view of the video's bytes: keep the video alive).
Video to_video(const at::Tensor& fhwc);
at::Tensor frames_tensor(const Video& video);

}  // namespace i2v::api
