#include "i2v/api/image_conversion.h"

#include <cstring>

#include "i2v/image/decode.h"

namespace i2v {

Image Image::from_file(const std::string& path) {
  return api::to_image(image::decode_image_file(path));
}

Image Image::from_bytes(const void* data, size_t size, const std::string& name) {
  return api::to_image(image::decode_image(static_cast<const uint8_t*>(data), size, name));
}

Image Video::frame(int index) const {
  if (index < 0 || index >= frames) {
    throw ConfigError("frame " + std::to_string(index) + " is outside the video's " +
                      std::to_string(frames) + " frames");
  }
  Image out;
  out.width = width;
  out.height = height;
  const size_t n = static_cast<size_t>(width) * height * 3;
  out.rgb.assign(rgb.begin() + static_cast<std::ptrdiff_t>(n * index),
                 rgb.begin() + static_cast<std::ptrdiff_t>(n * (index + 1)));
  return out;
}

namespace api {

image::RgbImage to_rgb_image(const Image& in) {
  if (in.width < 1 || in.height < 1 ||
      in.rgb.size() != static_cast<size_t>(in.width) * in.height * 3) {
    throw ConfigError(
        "the input image is empty or its pixel buffer does not hold width x height "
        "x 3 bytes");
  }
  image::RgbImage out;
  out.width = in.width;
  out.height = in.height;
  out.pixels = in.rgb;
  return out;
}

Image to_image(const image::RgbImage& in) {
  Image out;
  out.width = in.width;
  out.height = in.height;
  out.rgb = in.pixels;
  return out;
}

Image to_image(const at::Tensor& hwc) {
  const at::Tensor t = hwc.to(at::kCPU, at::kByte).contiguous();
  Image out;
  out.height = static_cast<int>(t.size(0));
  out.width = static_cast<int>(t.size(1));
  out.rgb.resize(static_cast<size_t>(t.numel()));
  std::memcpy(out.rgb.data(), t.data_ptr<uint8_t>(), out.rgb.size());
  return out;
}

at::Tensor image_tensor(const Image& img) {
  if (img.width < 1 || img.height < 1 ||
      img.rgb.size() != static_cast<size_t>(img.width) * img.height * 3) {
    throw ConfigError("the image is empty or its buffer does not hold width x height x 3 bytes");
  }
  return at::from_blob(const_cast<uint8_t*>(img.rgb.data()), {img.height, img.width, 3}, at::kByte)
      .clone();
}

Video to_video(const at::Tensor& fhwc) {
  const at::Tensor t = fhwc.to(at::kCPU, at::kByte).contiguous();
  Video v;
  v.frames = static_cast<int>(t.size(0));
  v.height = static_cast<int>(t.size(1));
  v.width = static_cast<int>(t.size(2));
  v.rgb.resize(static_cast<size_t>(t.numel()));
  std::memcpy(v.rgb.data(), t.data_ptr<uint8_t>(), v.rgb.size());
  return v;
}

at::Tensor frames_tensor(const Video& v) {
  if (v.rgb.size() != static_cast<size_t>(v.frames) * v.height * v.width * 3 || v.frames < 1) {
    throw ConfigError("the video is empty or its buffer does not hold frames x height x width x 3");
  }
  return at::from_blob(const_cast<uint8_t*>(v.rgb.data()), {v.frames, v.height, v.width, 3},
                       at::kByte);
}

}  // namespace api
}  // namespace i2v
