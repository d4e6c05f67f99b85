// Pictures for the page: JPEG/PNG encoding of frames and previews, and thumbnails.
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace i2v::server {

// image: (H, W, 3) uint8. Encoded bytes.
std::string encode_jpeg(const at::Tensor& image, int quality = 80);
std::string encode_png(const at::Tensor& image);

// Shrinks (H, W, 3) uint8 by a whole factor (box average) until the longer side is <= max_side.
at::Tensor shrink_to(const at::Tensor& image, int max_side);

}  // namespace i2v::server
