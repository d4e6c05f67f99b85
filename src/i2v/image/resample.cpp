#include "i2v/image/resample.h"

#include <cmath>
#include <string>
#include <vector>

#include "i2v/error.h"

namespace i2v::image {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double box_filter(double x) {
  return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
}

double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

double hamming_filter(double x) {
  if (x < 0.0) x = -x;
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * M_PI;
  return std::sin(x) / x * (0.54 + 0.46 * std::cos(x));
}

double bicubic_filter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc_filter(double x) {
  if (x == 0.0) return 1.0;
  x = x * M_PI;
  return std::sin(x) / x;
}

double lanczos_filter(double x) {
  if (-3.0 <= x && x < 3.0) return sinc_filter(x) * sinc_filter(x / 3);
  return 0.0;
}

struct Filter {
  double (*fn)(double);
  double support;
};

Filter filter_of(ResampleFilter f) {
  switch (f) {
    case ResampleFilter::Box:
      return {box_filter, 0.5};
    case ResampleFilter::Bilinear:
      return {bilinear_filter, 1.0};
    case ResampleFilter::Hamming:
      return {hamming_filter, 1.0};
    case ResampleFilter::Bicubic:
      return {bicubic_filter, 2.0};
    case ResampleFilter::Lanczos:
      return {lanczos_filter, 3.0};
  }
  return {box_filter, 0.5};
}

// Per output pixel: the first input index, the count, and fixed-point weights (ksize each).
struct Coefficients {
  int ksize = 0;
  std::vector<int> bounds;  // 2 per output pixel: xmin, count
  std::vector<int32_t> kk;  // ksize per output pixel
};

Coefficients precompute(int in_size, double in0, double in1, int out_size, const Filter& f) {
  double scale = (in1 - in0) / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = f.support * filterscale;
  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(static_cast<size_t>(out_size) * 2);
  std::vector<double> k(static_cast<size_t>(c.ksize));
  c.kk.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  for (int xx = 0; xx < out_size; ++xx) {
    double center = in0 + (xx + 0.5) * scale;
    double ww = 0.0;
    double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);  // truncation, as the C code does
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    for (int x = 0; x < xmax; ++x) {
      double w = f.fn((x + xmin - center + 0.5) * ss);
      k[static_cast<size_t>(x)] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      double v = ww != 0.0 ? k[static_cast<size_t>(x)] / ww : k[static_cast<size_t>(x)];
      // normalize_coeffs_8bpc: round half away from zero into 22-bit fixed point.
      c.kk[static_cast<size_t>(xx) * c.ksize + x] =
          v < 0 ? static_cast<int32_t>(-0.5 + v * (1 << kPrecisionBits))
                : static_cast<int32_t>(0.5 + v * (1 << kPrecisionBits));
    }
    c.bounds[static_cast<size_t>(xx) * 2] = xmin;
    c.bounds[static_cast<size_t>(xx) * 2 + 1] = xmax;
  }
  return c;
}

inline uint8_t clip8(int32_t v) {
  int32_t s = v >> kPrecisionBits;  // arithmetic shift, as Pillow's lookup table index
  return static_cast<uint8_t>(s < 0 ? 0 : (s > 255 ? 255 : s));
}

RgbImage horizontal(const RgbImage& in, int out_w, const Coefficients& c) {
  RgbImage out(out_w, in.height);
  for (int y = 0; y < in.height; ++y) {
    const uint8_t* src = in.row(y);
    uint8_t* dst = out.row(y);
    for (int xx = 0; xx < out_w; ++xx) {
      const int xmin = c.bounds[static_cast<size_t>(xx) * 2];
      const int count = c.bounds[static_cast<size_t>(xx) * 2 + 1];
      const int32_t* k = &c.kk[static_cast<size_t>(xx) * c.ksize];
      int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int x = 0; x < count; ++x) {
        const uint8_t* p = src + (x + xmin) * 3;
        s0 += p[0] * k[x];
        s1 += p[1] * k[x];
        s2 += p[2] * k[x];
      }
      dst[xx * 3] = clip8(s0);
      dst[xx * 3 + 1] = clip8(s1);
      dst[xx * 3 + 2] = clip8(s2);
    }
  }
  return out;
}

RgbImage vertical(const RgbImage& in, int out_h, const Coefficients& c) {
  RgbImage out(in.width, out_h);
  for (int yy = 0; yy < out_h; ++yy) {
    const int ymin = c.bounds[static_cast<size_t>(yy) * 2];
    const int count = c.bounds[static_cast<size_t>(yy) * 2 + 1];
    const int32_t* k = &c.kk[static_cast<size_t>(yy) * c.ksize];
    uint8_t* dst = out.row(yy);
    for (int xx = 0; xx < in.width; ++xx) {
      int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int y = 0; y < count; ++y) {
        const uint8_t* p = in.row(y + ymin) + xx * 3;
        s0 += p[0] * k[y];
        s1 += p[1] * k[y];
        s2 += p[2] * k[y];
      }
      dst[xx * 3] = clip8(s0);
      dst[xx * 3 + 1] = clip8(s1);
      dst[xx * 3 + 2] = clip8(s2);
    }
  }
  return out;
}

}  // namespace

RgbImage resize(const RgbImage& in, int width, int height, ResampleFilter filter) {
  if (width < 1 || height < 1 || in.width < 1 || in.height < 1) {
    throw ConfigError("cannot resize a " + std::to_string(in.width) + "x" +
                      std::to_string(in.height) + " image to " + std::to_string(width) + "x" +
                      std::to_string(height));
  }
  if (width == in.width && height == in.height) return in;  // Image.resize returns a copy
  const Filter f = filter_of(filter);
  RgbImage cur = in;
  // Pillow skips a pass whose size does not change (with the full-image box).
  if (width != in.width) cur = horizontal(cur, width, precompute(in.width, 0, in.width, width, f));
  if (height != in.height) {
    cur = vertical(cur, height, precompute(in.height, 0, in.height, height, f));
  }
  return cur;
}

}  // namespace i2v::image
