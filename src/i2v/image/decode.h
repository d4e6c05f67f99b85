// Decoding PNG, JPEG, WebP and BMP into 8-bit RGB, like PIL's Image.open(...).convert("RGB"):
// the format is told by content, not by name; sizes are checked against a pixel limit from the
// header, before any pixel data is decoded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "i2v/image/rgb_image.h"

namespace i2v::image {

enum class ImageFormat { Unknown, Png, Jpeg, WebP, Bmp, Gif, Tiff };

std::string to_string(ImageFormat f);
ImageFormat detect_format(const uint8_t* data, size_t size);

struct DecodeOptions {
  int64_t max_pixels = 64LL * 1000 * 1000;  // width * height above this is refused
};

// Throws IoError (unreadable file) or FormatError (unsupported format, corrupt or truncated data,
// too many pixels), naming `name`.
RgbImage decode_image(const uint8_t* data, size_t size, const std::string& name,
                      const DecodeOptions& options = {});
RgbImage decode_image_file(const std::filesystem::path& path, const DecodeOptions& options = {});

}  // namespace i2v::image
