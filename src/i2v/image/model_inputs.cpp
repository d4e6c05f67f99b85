#include "i2v/image/model_inputs.h"

#include <cstring>

#include "i2v/image/crop.h"
#include "i2v/image/resample.h"

namespace i2v::image {

RgbImage clip_input_image(const RgbImage& image, int video_width, const ClipNormalization& n) {
  RgbImage square = center_crop_wide(image, video_width, video_width);
  return resize(square, n.crop_width, n.crop_height, ResampleFilter::Bilinear);
}

RgbImage vae_input_image(const RgbImage& image, int video_width, int video_height) {
  return center_crop_wide(image, video_width, video_height);
}

at::Tensor to_uint8_tensor(const RgbImage& image) {
  at::Tensor t = at::empty({image.height, image.width, 3}, at::kByte);
  std::memcpy(t.data_ptr<uint8_t>(), image.pixels.data(), image.pixels.size());
  return t;
}

at::Tensor clip_pixel_values(const RgbImage& img, const ClipNormalization& n) {
  at::Tensor out = at::empty({1, 3, img.height, img.width}, at::kFloat);
  float* dst = out.data_ptr<float>();
  const size_t plane = static_cast<size_t>(img.width) * img.height;
  for (size_t i = 0; i < plane; ++i) {
    for (int c = 0; c < 3; ++c) {
      float x = static_cast<float>(img.pixels[i * 3 + c]) / 255.0f;
      dst[c * plane + i] = (x - n.mean[c]) / n.std[c];
    }
  }
  return out;
}

at::Tensor vae_pixel_values(const RgbImage& img) {
  at::Tensor out = at::empty({1, 3, img.height, img.width}, at::kFloat);
  float* dst = out.data_ptr<float>();
  const size_t plane = static_cast<size_t>(img.width) * img.height;
  for (size_t i = 0; i < plane; ++i) {
    for (int c = 0; c < 3; ++c) {
      float x = static_cast<float>(img.pixels[i * 3 + c]) / 255.0f;
      dst[c * plane + i] = 2.0f * x - 1.0f;
    }
  }
  return out;
}

}  // namespace i2v::image
