// Cropping as PIL's Image.crop (areas outside the image are black) and the I2VGen-XL pipeline's
// `_center_crop_wide` sizing, including its Python float arithmetic.
#pragma once

#include "i2v/image/rgb_image.h"

namespace i2v::image {

// Image.crop((left, top, left + width, top + height)); the box may extend past the image.
RgbImage crop(const RgbImage& in, int left, int top, int width, int height);

// Python's float floor division a // b (fmod-based, with its snapping) and round() (half to even).
double python_floor_div(double a, double b);
long python_round(double x);

// diffusers' _center_crop_wide(image, (width, height)): scale = min(w/W, h/H); BOX-resize to
// (round(w // scale), round(h // scale)); crop the centred W x H box.
RgbImage center_crop_wide(const RgbImage& in, int width, int height);

}  // namespace i2v::image
