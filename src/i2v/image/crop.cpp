#include "i2v/image/crop.h"

#include <cmath>
#include <cstring>
#include <string>

#include "i2v/error.h"
#include "i2v/image/resample.h"

namespace i2v::image {

RgbImage crop(const RgbImage& in, int left, int top, int width, int height) {
  if (width < 1 || height < 1) {
    throw ConfigError("crop size must be positive, got " + std::to_string(width) + "x" +
                      std::to_string(height));
  }
  RgbImage out(width, height);  // zero-filled: PIL fills outside pixels with black
  for (int y = 0; y < height; ++y) {
    const int sy = top + y;
    if (sy < 0 || sy >= in.height) continue;
    const int x0 = std::max(0, -left), x1 = std::min(width, in.width - left);
    if (x1 <= x0) continue;
    std::memcpy(out.row(y) + x0 * 3, in.row(sy) + (left + x0) * 3,
                static_cast<size_t>(x1 - x0) * 3);
  }
  return out;
}

double python_floor_div(double a, double b) {
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0.0 && ((b < 0) != (mod < 0))) div -= 1.0;
  if (div == 0.0) return std::copysign(0.0, a / b);
  double floordiv = std::floor(div);
  if (div - floordiv > 0.5) floordiv += 1.0;
  return floordiv;
}

long python_round(double x) {
  return static_cast<long>(std::nearbyint(x));
}  // half to even

RgbImage center_crop_wide(const RgbImage& in, int width, int height) {
  if (width < 1 || height < 1) throw ConfigError("target size must be positive");
  const double scale =
      std::min(static_cast<double>(in.width) / width, static_cast<double>(in.height) / height);
  const long w = python_round(python_floor_div(in.width, scale));
  const long h = python_round(python_floor_div(in.height, scale));
  RgbImage resized = resize(in, static_cast<int>(w), static_cast<int>(h), ResampleFilter::Box);
  // Python's // on ints floors (towards -inf), also for negative differences.
  auto floor_half = [](long d) { return static_cast<int>(d >= 0 ? d / 2 : -((-d + 1) / 2)); };
  const int x1 = floor_half(resized.width - width);
  const int y1 = floor_half(resized.height - height);
  return crop(resized, x1, y1, width, height);
}

}  // namespace i2v::image
