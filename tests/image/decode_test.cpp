// Decoding by content for every supported format, conversion to RGB, and clear errors for
// unsupported, corrupt, truncated or oversized images.
#include <gtest/gtest.h>

#include <fstream>
#include <vector>

#include <jpeglib.h>
#include <webp/encode.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include "i2v/error.h"
#include "i2v/image/decode.h"
#include "i2v/image/resample.h"
#include "support/test_support.h"

namespace i2v::image {
namespace {

std::vector<uint8_t> gradient(int w, int h, int comp) {
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * comp);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < comp; ++c)
        px[(y * w + x) * comp + c] = static_cast<uint8_t>(x * 7 + y * 3 + c * 50);
  return px;
}

void append(void* ctx, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(ctx);
  out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
}

std::vector<uint8_t> encode_png(int w, int h, int comp) {
  std::vector<uint8_t> out;
  auto px = gradient(w, h, comp);
  stbi_write_png_to_func(append, &out, w, h, comp, px.data(), w * comp);
  return out;
}

std::vector<uint8_t> encode_jpeg(int w, int h) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = w;
  c.image_height = h;
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 95, TRUE);
  jpeg_start_compress(&c, TRUE);
  auto px = gradient(w, h, 3);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = px.data() + c.next_scanline * w * 3;
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::vector<uint8_t> out(buf, buf + size);
  free(buf);
  return out;
}

TEST(Decode, PngRgbGrayAndRgbaBecomeRgb) {
  for (int comp : {1, 3, 4}) {
    auto bytes = encode_png(9, 5, comp);
    RgbImage img = decode_image(bytes.data(), bytes.size(), "test.png");
    ASSERT_EQ(img.width, 9);
    ASSERT_EQ(img.height, 5);
    auto px = gradient(9, 5, comp);
    for (int i = 0; i < 9 * 5; ++i) {
      for (int c = 0; c < 3; ++c) {
        // Gray is replicated to R, G and B; alpha is dropped (PIL's convert("RGB")).
        uint8_t expected = px[i * comp + (comp == 1 ? 0 : c)];
        ASSERT_EQ(img.pixels[i * 3 + c], expected) << "comp " << comp;
      }
    }
  }
}

TEST(Decode, BmpJpegAndWebp) {
  std::vector<uint8_t> bmp;
  auto px = gradient(6, 4, 3);
  stbi_write_bmp_to_func(append, &bmp, 6, 4, 3, px.data());
  RgbImage b = decode_image(bmp.data(), bmp.size(), "t.bmp");
  EXPECT_EQ(b.pixels, px);

  auto jpg = encode_jpeg(16, 16);
  EXPECT_EQ(detect_format(jpg.data(), jpg.size()), ImageFormat::Jpeg);
  RgbImage j = decode_image(jpg.data(), jpg.size(), "t.jpg");
  EXPECT_EQ(j.width, 16);
  int max_diff = 0;
  auto ref = gradient(16, 16, 3);
  for (size_t i = 0; i < ref.size(); ++i)
    max_diff = std::max(max_diff, std::abs(j.pixels[i] - ref[i]));
  EXPECT_LE(max_diff, 12);  // lossy, but the picture is there

  uint8_t* webp = nullptr;
  auto wpx = gradient(10, 7, 3);
  size_t wsize = WebPEncodeLosslessRGB(wpx.data(), 10, 7, 30, &webp);
  ASSERT_GT(wsize, 0u);
  RgbImage w = decode_image(webp, wsize, "t.webp");
  WebPFree(webp);
  EXPECT_EQ(w.pixels, wpx);
}

TEST(Decode, FormatIsToldByContentNotName) {
  auto png = encode_png(4, 4, 3);
  test::TempDir tmp;
  std::ofstream(tmp / "looks_like.jpg", std::ios::binary)
      .write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
  RgbImage img = decode_image_file(tmp / "looks_like.jpg");
  EXPECT_EQ(img.width, 4);
}

TEST(Decode, BadInputsAreClearErrors) {
  test::TempDir tmp;
  EXPECT_THROW(decode_image_file(tmp / "missing.png"), IoError);
  EXPECT_THROW(decode_image_file(tmp.path()), IoError);
  std::ofstream(tmp / "empty.png").close();
  EXPECT_THROW(decode_image_file(tmp / "empty.png"), FormatError);

  const uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0};
  try {
    decode_image(gif, sizeof gif, "anim.gif");
    FAIL() << "GIF accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("GIF is not supported"), std::string::npos) << e.what();
  }
  const uint8_t text[] = "hello, not an image";
  EXPECT_THROW(decode_image(text, sizeof text, "notes.txt"), FormatError);

  auto png = encode_png(32, 32, 3);
  EXPECT_THROW(decode_image(png.data(), png.size() / 2, "truncated.png"), FormatError);
  auto jpg = encode_jpeg(64, 64);
  EXPECT_THROW(decode_image(jpg.data(), jpg.size() / 3, "truncated.jpg"), FormatError);
  std::vector<uint8_t> broken = jpg;
  for (size_t i = 20; i < broken.size(); i += 7) broken[i] ^= 0x5a;
  try {
    decode_image(broken.data(), broken.size(), "corrupt.jpg");
  } catch (const FormatError&) {
    // Either an error or a (garbled) image: never a crash.
  }

  DecodeOptions small;
  small.max_pixels = 100;
  try {
    decode_image(png.data(), png.size(), "big.png", small);
    FAIL() << "pixel limit ignored";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("exceed the limit"), std::string::npos) << e.what();
  }
  EXPECT_THROW(decode_image(jpg.data(), jpg.size(), "big.jpg", small), FormatError);
}

TEST(Resample, BoxByAnIntegerFactorIsTheRoundedBlockMean) {
  RgbImage in(8, 6);
  for (size_t i = 0; i < in.pixels.size(); ++i) in.pixels[i] = static_cast<uint8_t>((i * 37) % 256);
  RgbImage out = resize(in, 4, 3, ResampleFilter::Box);
  for (int y = 0; y < 3; ++y) {
    for (int x = 0; x < 4; ++x) {
      for (int c = 0; c < 3; ++c) {
        // Horizontal pass rounds the pair mean, then the vertical pass rounds again.
        auto h = [&](int yy) {
          return (in.row(yy)[(2 * x) * 3 + c] + in.row(yy)[(2 * x + 1) * 3 + c] + 1) / 2;
        };
        int expected = (h(2 * y) + h(2 * y + 1) + 1) / 2;
        EXPECT_EQ(out.row(y)[x * 3 + c], expected);
      }
    }
  }
}

TEST(Resample, IdentityConstantAndBadSizes) {
  RgbImage in(5, 4);
  std::fill(in.pixels.begin(), in.pixels.end(), 77);
  for (auto f : {ResampleFilter::Box, ResampleFilter::Bilinear, ResampleFilter::Bicubic,
                 ResampleFilter::Lanczos, ResampleFilter::Hamming}) {
    EXPECT_EQ(resize(in, 5, 4, f).pixels, in.pixels);
    RgbImage up = resize(in, 13, 9, f);
    RgbImage down = resize(in, 2, 3, f);
    for (uint8_t v : up.pixels) ASSERT_EQ(v, 77);  // normalised weights keep a constant image
    for (uint8_t v : down.pixels) ASSERT_EQ(v, 77);
  }
  EXPECT_THROW(resize(in, 0, 4, ResampleFilter::Box), ConfigError);
}

}  // namespace
}  // namespace i2v::image
