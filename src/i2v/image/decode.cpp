#include "i2v/image/decode.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

#include <jpeglib.h>
// After jpeglib.h: declares the message codes (JWRN_JPEG_EOF).
#include <jerror.h>
#include <webp/decode.h>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>

#include "i2v/error.h"

namespace i2v::image {
namespace {

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw FormatError("cannot decode image " + name + ": " + what);
}

void check_size(int64_t w, int64_t h, const std::string& name, const DecodeOptions& o) {
  if (w <= 0 || h <= 0) fail(name, "it has no pixels");
  if (w * h > o.max_pixels) {
    fail(name, std::to_string(w) + "x" + std::to_string(h) + " pixels exceed the limit of " +
                   std::to_string(o.max_pixels) + " pixels");
  }
}

RgbImage decode_stb(const uint8_t* data, size_t size, const std::string& name,
                    const DecodeOptions& o) {
  int w = 0, h = 0, comp = 0;
  if (size > static_cast<size_t>(INT32_MAX)) fail(name, "file too large");
  if (!stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &comp)) {
    fail(name, stbi_failure_reason());
  }
  check_size(w, h, name, o);
  // 3 components: gray is replicated, alpha dropped, palettes expanded, 16-bit taken to 8 bits.
  std::unique_ptr<stbi_uc, void (*)(void*)> px(
      stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &comp, 3), stbi_image_free);
  if (!px) fail(name, stbi_failure_reason());
  RgbImage img(w, h);
  std::memcpy(img.pixels.data(), px.get(), img.pixels.size());
  return img;
}

struct JpegError {
  jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool premature_end = false;  // libjpeg pads truncated data with grey; PIL refuses such files
};

void on_jpeg_message(j_common_ptr cinfo, int level) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) err->premature_end = true;
}

void on_jpeg_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

// libjpeg-turbo with its defaults (islow IDCT, fancy upsampling), as PIL decodes.
RgbImage decode_jpeg(const uint8_t* data, size_t size, const std::string& name,
                     const DecodeOptions& o) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = on_jpeg_error;
  err.mgr.output_message = [](j_common_ptr) {};  // warnings stay quiet
  err.mgr.emit_message = on_jpeg_message;
  RgbImage img;
  std::string problem;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    fail(name, problem.empty() ? err.message : problem);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.image_width == 0 || cinfo.image_height == 0 ||
      static_cast<int64_t>(cinfo.image_width) * cinfo.image_height > o.max_pixels) {
    int64_t w = cinfo.image_width, h = cinfo.image_height;
    jpeg_destroy_decompress(&cinfo);
    check_size(w, h, name, o);
  }
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&cinfo);
    fail(name, "CMYK JPEG images are not supported (convert it to RGB first)");
  }
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  img = RgbImage(static_cast<int>(cinfo.output_width), static_cast<int>(cinfo.output_height));
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = img.row(static_cast<int>(cinfo.output_scanline));
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  const bool truncated = err.premature_end;
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  if (truncated) fail(name, "the JPEG data is truncated");
  return img;
}

RgbImage decode_webp(const uint8_t* data, size_t size, const std::string& name,
                     const DecodeOptions& o) {
  int w = 0, h = 0;
  if (!WebPGetInfo(data, size, &w, &h)) fail(name, "invalid WebP header");
  check_size(w, h, name, o);
  RgbImage img(w, h);
  if (!WebPDecodeRGBInto(data, size, img.pixels.data(), img.pixels.size(), w * 3)) {
    fail(name, "corrupt or truncated WebP data");
  }
  return img;
}

}  // namespace

std::string to_string(ImageFormat f) {
  switch (f) {
    case ImageFormat::Png:
      return "PNG";
    case ImageFormat::Jpeg:
      return "JPEG";
    case ImageFormat::WebP:
      return "WebP";
    case ImageFormat::Bmp:
      return "BMP";
    case ImageFormat::Gif:
      return "GIF";
    case ImageFormat::Tiff:
      return "TIFF";
    case ImageFormat::Unknown:
      return "unknown";
  }
  return "unknown";
}

ImageFormat detect_format(const uint8_t* d, size_t n) {
  auto starts = [&](const char* magic, size_t len, size_t at = 0) {
    return n >= at + len && std::memcmp(d + at, magic, len) == 0;
  };
  if (starts("\x89PNG\r\n\x1a\n", 8)) return ImageFormat::Png;
  if (starts("\xff\xd8\xff", 3)) return ImageFormat::Jpeg;
  if (starts("RIFF", 4) && starts("WEBP", 4, 8)) return ImageFormat::WebP;
  if (starts("BM", 2)) return ImageFormat::Bmp;
  if (starts("GIF87a", 6) || starts("GIF89a", 6)) return ImageFormat::Gif;
  if (starts("II*\0", 4) || starts("MM\0*", 4)) return ImageFormat::Tiff;
  return ImageFormat::Unknown;
}

RgbImage decode_image(const uint8_t* data, size_t size, const std::string& name,
                      const DecodeOptions& options) {
  const ImageFormat f = detect_format(data, size);
  switch (f) {
    case ImageFormat::Png:
    case ImageFormat::Bmp:
      return decode_stb(data, size, name, options);
    case ImageFormat::Jpeg:
      return decode_jpeg(data, size, name, options);
    case ImageFormat::WebP:
      return decode_webp(data, size, name, options);
    case ImageFormat::Gif:
    case ImageFormat::Tiff:
      fail(name, to_string(f) + " is not supported (use PNG, JPEG, WebP or BMP)");
    case ImageFormat::Unknown:
      break;
  }
  fail(name, "unsupported image format (use PNG, JPEG, WebP or BMP)");
}

RgbImage decode_image_file(const std::filesystem::path& path, const DecodeOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw IoError("cannot read image " + path.string() + ": no such file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot read image " + path.string());
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (bytes.empty())
    throw FormatError("cannot decode image " + path.string() + ": the file is empty");
  return decode_image(bytes.data(), bytes.size(), path.string(), options);
}

}  // namespace i2v::image
