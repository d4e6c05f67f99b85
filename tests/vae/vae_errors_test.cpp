// Bad inputs: weights that do not fit the config, mis-shaped inputs, bad chunk sizes, missing
// files. Each is a typed error naming what is wrong, never a crash.
#include <gtest/gtest.h>

#include <fstream>

#include "i2v/error.h"
#include "i2v/models/vae/decode_frames.h"
#include "i2v/models/vae/vae_loading.h"
#include "vae/vae_test_util.h"

namespace i2v::vae {
namespace {

namespace fs = std::filesystem;

weights::StateDict tiny_weights() {
  return weights::StateDict::open({test::vae_dir() / "diffusion_pytorch_model.safetensors"});
}

VaeConfig tiny_config() {
  return VaeConfig::from_file(test::vae_dir() / "config.json");
}

// The ShapeError message of loading `config` with the tiny weights ("" if it loads).
std::string load_error(const VaeConfig& config) {
  try {
    load_autoencoder_kl(config, tiny_weights());
  } catch (const ShapeError& e) {
    return e.what();
  }
  return "";
}

TEST(VaeErrors, ConfigThatDoesNotFitTheWeightsIsAShapeError) {
  VaeConfig c = tiny_config();
  c.latent_channels = 8;
  std::string err = load_error(c);
  EXPECT_NE(err.find("'vae'"), std::string::npos) << err;
  EXPECT_NE(err.find("quant_conv.weight"), std::string::npos) << err;

  c = tiny_config();
  c.layers_per_block = 1;  // resnets.2 of every decoder block is then unexpected
  err = load_error(c);
  EXPECT_NE(err.find("decoder.up_blocks.0.resnets.2.conv1.weight"), std::string::npos) << err;

  c = tiny_config();
  c.block_out_channels = {32, 32};
  err = load_error(c);
  EXPECT_NE(err.find("mis-shaped"), std::string::npos) << err;

  c = tiny_config();
  c.mid_block_add_attention = false;
  err = load_error(c);
  EXPECT_NE(err.find("encoder.mid_block.attentions.0.to_q.weight"), std::string::npos) << err;
}

TEST(VaeErrors, MisShapedInputs) {
  AutoencoderKL vae = load_autoencoder_kl(test::vae_dir());
  EXPECT_THROW(vae->encode(at::zeros({1, 4, 8, 8})), ShapeError);  // 4 channels, not 3
  EXPECT_THROW(vae->encode(at::zeros({3, 8, 8})), ShapeError);     // no batch axis
  EXPECT_THROW(vae->encode(at::zeros({1, 3, 0, 8})), ShapeError);  // empty
  EXPECT_THROW(vae->encode(at::zeros({1, 3, 8, 8}, at::kLong)), ShapeError);
  EXPECT_THROW(vae->encode(at::Tensor()), ShapeError);
  EXPECT_THROW(vae->decode(at::zeros({1, 3, 8, 8})), ShapeError);  // 3 channels, not 4
  EXPECT_THROW(vae->decode(at::zeros({1, 4, 2, 8, 8})), ShapeError);
  try {
    vae->decode(at::zeros({1, 8, 6, 10}));
    ADD_FAILURE() << "no error";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("[1, 8, 6, 10]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(decode_frames(*vae, at::zeros({1, 4, 6, 10})), ShapeError);  // no frame axis
  EXPECT_THROW(decode_frames(*vae, at::zeros({1, 3, 2, 6, 10})), ShapeError);
  EXPECT_THROW(decode_frames(*vae, at::zeros({1, 4, 2, 6, 10}), 0), ConfigError);
  // Odd sizes are fine: pad right/bottom by one, 3x3 stride 2 gives floor(n / 2) (7x5 -> 3x2).
  EXPECT_EQ(vae->encode(at::zeros({2, 3, 7, 5})).mean.sizes(), (std::vector<int64_t>{2, 4, 3, 2}));
}

TEST(VaeErrors, MissingFilesAndVariants) {
  test::TempDir dir;
  EXPECT_THROW(load_autoencoder_kl(dir.path()), IoError);  // no config.json
  fs::copy_file(test::vae_dir() / "config.json", dir / "config.json");
  EXPECT_THROW(load_autoencoder_kl(dir.path()), IoError);  // no weights
  VaeLoadOptions options;
  options.variant = weights::VariantMode::Bf16;
  EXPECT_THROW(load_autoencoder_kl(test::vae_dir(), options), ConfigError);  // no bf16 variant
}

TEST(VaeErrors, LoadsFromAPipelineFolder) {
  weights::ModelDir pipeline = weights::ModelDir::open(test::golden_pipeline().string());
  AutoencoderKL vae = load_autoencoder_kl(pipeline);
  EXPECT_DOUBLE_EQ(vae->config().scaling_factor, 0.18215);
  const std::string unit = "units/vae_decode.safetensors";
  EXPECT_LT(test::vae_relative_error(vae->decode(test::vae_golden_tensor(unit, "in.z")),
                                     test::vae_golden_tensor(unit, "out.sample")),
            1e-4);
  EXPECT_THROW(load_autoencoder_kl(pipeline, {}, "no_such_component"), ConfigError);
}

}  // namespace
}  // namespace i2v::vae
