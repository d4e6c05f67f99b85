#include "i2v/server/preview.h"

#include <stb/stb_image_write.h>  // implementation compiled in the video area

#include "i2v/core/error.h"

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

at::Tensor latent_preview_rgb(const at::Tensor& latents, int min_side) {
  if (latents.dim() != 5) throw ShapeError("preview latents must be (B, C, F, h, w)");
  at::Tensor x = latents.index({0, at::indexing::Slice(), 0}).to(at::kFloat);  // (C, h, w)
  at::Tensor rgb;
  if (x.size(0) == 4) {
    // Stable Diffusion's latent -> RGB factors (the VAE I2VGen-XL shares), giving about [-1, 1].
    at::Tensor f = at::tensor({0.3512f, 0.2297f, 0.3227f, 0.3250f, 0.4974f, 0.2350f, -0.2829f,
                               0.1762f, 0.2721f, -0.2120f, -0.2616f, -0.7177f})
                       .view({4, 3});
    rgb = at::einsum("chw,cr->hwr", {x, f});
  } else {
    at::Tensor c = x.index({at::indexing::Slice(0, std::min<int64_t>(3, x.size(0)))});
    while (c.size(0) < 3) c = at::cat({c, c.index({at::indexing::Slice(0, 1)})});
    rgb = c.permute({1, 2, 0}) / 2.0;
  }
  rgb = ((rgb + 1.0) * 127.5).clamp(0, 255).to(at::kByte);
  int64_t side = std::max(rgb.size(0), rgb.size(1));
  int64_t factor = std::max<int64_t>(1, (min_side + side - 1) / side);
  if (factor > 1) {
    rgb = rgb.repeat_interleave(factor, 0).repeat_interleave(factor, 1);
  }
  return rgb.contiguous();
}

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
