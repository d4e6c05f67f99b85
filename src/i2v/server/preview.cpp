#include "i2v/server/preview.h"

#include <stb/stb_image_write.h>  // implementation compiled in the video area

#include "i2v/error.h"

namespace i2v::server {
namespace {

void append_bytes(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
}

at::Tensor checked_rgb(const at::Tensor& image) {
  if (image.dim() != 3 || image.size(2) != 3 || image.scalar_type() != at::kByte) {
    throw ShapeError("an image to encode must be (H, W, 3) uint8");
  }
  return image.contiguous();
}

}  // namespace

std::string encode_jpeg(const at::Tensor& image, int quality) {
  at::Tensor im = checked_rgb(image);
  std::string out;
  if (!stbi_write_jpg_to_func(append_bytes, &out, im.size(1), im.size(0), 3, im.data_ptr<uint8_t>(),
                              quality)) {
    throw IoError("JPEG encoding failed");
  }
  return out;
}

std::string encode_png(const at::Tensor& image) {
  at::Tensor im = checked_rgb(image);
  std::string out;
  if (!stbi_write_png_to_func(append_bytes, &out, im.size(1), im.size(0), 3, im.data_ptr<uint8_t>(),
                              im.size(1) * 3)) {
    throw IoError("PNG encoding failed");
  }
  return out;
}

at::Tensor shrink_to(const at::Tensor& image, int max_side) {
  at::Tensor im = checked_rgb(image);
  int64_t factor = 1;
  while (std::max(im.size(0), im.size(1)) / factor > max_side) ++factor;
  if (factor == 1) return im;
  const int64_t h = im.size(0) / factor * factor, w = im.size(1) / factor * factor;
  at::Tensor f = im.index({at::indexing::Slice(0, h), at::indexing::Slice(0, w)})
                     .to(at::kFloat)
                     .view({h / factor, factor, w / factor, factor, 3})
                     .mean({1, 3});
  return f.round().clamp(0, 255).to(at::kByte).contiguous();
}

}  // namespace i2v::server
