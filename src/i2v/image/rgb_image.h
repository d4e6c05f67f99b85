// An 8-bit RGB image in row-major HWC order: what PIL's Image.convert("RGB") holds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace i2v::image {

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3

  RgbImage() = default;
  RgbImage(int w, int h) : width(w), height(h), pixels(static_cast<size_t>(w) * h * 3, 0) {}
  uint8_t* row(int y) { return pixels.data() + static_cast<size_t>(y) * width * 3; }
  const uint8_t* row(int y) const { return pixels.data() + static_cast<size_t>(y) * width * 3; }
};

}  // namespace i2v::image
