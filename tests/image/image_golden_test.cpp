// The pipeline's image inputs against the reference: both uint8 crops bit for bit, and the float
// tensors given to the CLIP image encoder and the VAE.
#include <gtest/gtest.h>

#include "i2v/image/crop.h"
#include "i2v/image/decode.h"
#include "i2v/image/model_inputs.h"
#include "i2v/io/safetensors.h"
#include "support/test_support.h"

namespace i2v::image {
namespace {

struct Golden {
  std::map<std::string, at::Tensor> run =
      io::load_safetensors(test::golden_dir() / "golden/pipeline_run.safetensors");
  RgbImage input = decode_image_file(test::golden_dir() / "input_image.png");
};

TEST(ImageGolden, InputDecodes) {
  Golden g;
  EXPECT_EQ(g.input.width, 100);
  EXPECT_EQ(g.input.height, 72);
}

TEST(ImageGolden, ClipCropIsBitExact) {
  Golden g;
  // The tiny model: video 80x48, CLIP crop 32x32 (feature_extractor/preprocessor_config.json).
  ClipNormalization n;
  n.crop_width = n.crop_height = 32;
  RgbImage clip = clip_input_image(g.input, 80, n);
  at::Tensor ref = g.run.at("clip_input_image_uint8");
  ASSERT_EQ(to_uint8_tensor(clip).sizes(), ref.sizes());
  EXPECT_TRUE(to_uint8_tensor(clip).equal(ref))
      << "differing values: " << (to_uint8_tensor(clip) != ref).sum().item<int64_t>();
  at::Tensor px = clip_pixel_values(clip, n);
  double err = (px - g.run.at("clip_pixel_values")).abs().max().item<double>();
  std::printf("[ golden ] clip_pixel_values max abs err %.3g\n", err);
  EXPECT_LE(err, 1e-6);
}

TEST(ImageGolden, VaeCropIsBitExact) {
  Golden g;
  RgbImage vae = vae_input_image(g.input, 80, 48);
  at::Tensor ref = g.run.at("vae_input_image_uint8");
  ASSERT_EQ(to_uint8_tensor(vae).sizes(), ref.sizes());
  EXPECT_TRUE(to_uint8_tensor(vae).equal(ref))
      << "differing values: " << (to_uint8_tensor(vae) != ref).sum().item<int64_t>();
  at::Tensor px = vae_pixel_values(vae);
  double err = (px - g.run.at("vae_input_image")).abs().max().item<double>();
  std::printf("[ golden ] vae_input_image max abs err %.3g\n", err);
  EXPECT_LE(err, 1e-6);
}

TEST(CenterCropWide, UsesPythonFloatFloorDivision) {
  // 72 / 0.9 is 80.0 in floating point, but Python's 72 // 0.9 is 79.0: the reference's sizing.
  EXPECT_EQ(python_floor_div(72.0, 0.9), 79.0);
  EXPECT_EQ(python_floor_div(100.0, 0.9), 111.0);
  EXPECT_EQ(python_floor_div(-7.0, 2.0), -4.0);
  EXPECT_EQ(python_round(2.5), 2);
  EXPECT_EQ(python_round(3.5), 4);
  // So a 100x72 image cropped wide to 80x80 is resized to 111x79 and the top row is black.
  RgbImage in(100, 72);
  std::fill(in.pixels.begin(), in.pixels.end(), 200);
  RgbImage out = center_crop_wide(in, 80, 80);
  ASSERT_EQ(out.width, 80);
  ASSERT_EQ(out.height, 80);
  EXPECT_EQ(out.row(0)[0], 0);
  EXPECT_EQ(out.row(1)[0], 200);
  EXPECT_EQ(out.row(79)[79 * 3], 200);
}

}  // namespace
}  // namespace i2v::image
