// Pillow's resampling (libImaging/Resample.c, Pillow 9.x) reproduced exactly for 8-bit RGB:
// separable convolution with the filter's support scaled by the downscale factor (antialiasing),
// coefficients normalised per output pixel and rounded to 22-bit fixed point, a horizontal pass
// then a vertical pass, each rounding to 8 bits. Equal results to Image.resize bit for bit.
#pragma once

#include "i2v/image/rgb_image.h"

namespace i2v::image {

enum class ResampleFilter { Box, Bilinear, Hamming, Bicubic, Lanczos };

// Image.resize((width, height), filter) on the whole image. Throws ConfigError for sizes < 1.
RgbImage resize(const RgbImage& in, int width, int height, ResampleFilter filter);

}  // namespace i2v::image
