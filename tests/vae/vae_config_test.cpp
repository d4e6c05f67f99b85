// VaeConfig: diffusers defaults, the tiny and official files, and rejected configurations.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "i2v/error.h"
#include "i2v/models/vae/vae_config.h"
#include "vae/vae_test_util.h"

namespace i2v::vae {
namespace {

using nlohmann::json;

// The ConfigError message of from_json(j), or "" if it succeeds.
std::string config_error(const json& j) {
  try {
    VaeConfig::from_json(j, "cfg.json");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(VaeConfig, EmptyObjectGivesDiffusersDefaults) {
  VaeConfig c = VaeConfig::from_json(json::object(), "cfg.json");
  EXPECT_EQ(c.in_channels, 3);
  EXPECT_EQ(c.out_channels, 3);
  EXPECT_EQ(c.down_block_types, std::vector<std::string>{"DownEncoderBlock2D"});
  EXPECT_EQ(c.up_block_types, std::vector<std::string>{"UpDecoderBlock2D"});
  EXPECT_EQ(c.block_out_channels, std::vector<int64_t>{64});
  EXPECT_EQ(c.layers_per_block, 1);
  EXPECT_EQ(c.act_fn, "silu");
  EXPECT_EQ(c.latent_channels, 4);
  EXPECT_EQ(c.norm_num_groups, 32);
  EXPECT_EQ(c.sample_size, 32);
  EXPECT_DOUBLE_EQ(c.scaling_factor, 0.18215);
  EXPECT_FALSE(c.shift_factor.has_value());
  EXPECT_FALSE(c.latents_mean.has_value());
  EXPECT_TRUE(c.force_upcast);
  EXPECT_TRUE(c.use_quant_conv);
  EXPECT_TRUE(c.use_post_quant_conv);
  EXPECT_TRUE(c.mid_block_add_attention);
  EXPECT_EQ(c.spatial_scale_factor(), 1);
}

TEST(VaeConfig, TinyGoldenConfig) {
  VaeConfig c = VaeConfig::from_file(test::vae_dir() / "config.json");
  EXPECT_EQ(c.block_out_channels, (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(c.layers_per_block, 2);
  EXPECT_EQ(c.norm_num_groups, 16);
  EXPECT_EQ(c.sample_size, 64);
  EXPECT_DOUBLE_EQ(c.scaling_factor, 0.18215);
  EXPECT_FALSE(c.shift_factor.has_value());  // null in the file
  EXPECT_EQ(c.spatial_scale_factor(), 2);
}

TEST(VaeConfig, OfficialConfig) {
  VaeConfig c = VaeConfig::from_file(test::official_vae_config());
  EXPECT_EQ(c.block_out_channels, (std::vector<int64_t>{128, 256, 512, 512}));
  EXPECT_EQ(c.down_block_types.size(), 4u);
  EXPECT_EQ(c.layers_per_block, 2);
  EXPECT_EQ(c.norm_num_groups, 32);
  EXPECT_EQ(c.sample_size, 768);
  EXPECT_DOUBLE_EQ(c.scaling_factor, 0.18125);  // not the SD value 0.18215
  EXPECT_TRUE(c.force_upcast);
  // Keys the 0.26 file lacks take the defaults.
  EXPECT_TRUE(c.use_quant_conv);
  EXPECT_TRUE(c.use_post_quant_conv);
  EXPECT_TRUE(c.mid_block_add_attention);
  EXPECT_EQ(c.spatial_scale_factor(), 8);
}

TEST(VaeConfig, OptionalKeysAndListSampleSize) {
  VaeConfig c = VaeConfig::from_json(json{{"shift_factor", 0.1159},
                                          {"sample_size", {512, 256}},
                                          {"use_quant_conv", false},
                                          {"latents_mean", {0.1, 0.2, 0.3, 0.4}},
                                          {"mid_block_add_attention", false}},
                                     "cfg.json");
  ASSERT_TRUE(c.shift_factor.has_value());
  EXPECT_DOUBLE_EQ(*c.shift_factor, 0.1159);
  EXPECT_EQ(c.sample_size, 512);
  EXPECT_FALSE(c.use_quant_conv);
  EXPECT_FALSE(c.mid_block_add_attention);
  ASSERT_TRUE(c.latents_mean.has_value());
  EXPECT_EQ(c.latents_mean->size(), 4u);
}

TEST(VaeConfig, UnsupportedBlockTypesNameTheKey) {
  std::string err = config_error(json{{"down_block_types", {"AttnDownEncoderBlock2D"}}});
  EXPECT_NE(err.find("cfg.json"), std::string::npos) << err;
  EXPECT_NE(err.find("'down_block_types'"), std::string::npos) << err;
  EXPECT_NE(err.find("AttnDownEncoderBlock2D"), std::string::npos) << err;
  err = config_error(json{{"up_block_types", {"AttnUpDecoderBlock2D"}}});
  EXPECT_NE(err.find("'up_block_types'"), std::string::npos) << err;
}

TEST(VaeConfig, InconsistentOrInvalidValuesAreRejected) {
  // Two block types but one channel count.
  std::string err =
      config_error(json{{"down_block_types", {"DownEncoderBlock2D", "DownEncoderBlock2D"}},
                        {"up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D"}}});
  EXPECT_NE(err.find("'down_block_types'"), std::string::npos) << err;
  err = config_error(json{{"up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D"}}});
  EXPECT_NE(err.find("'up_block_types'"), std::string::npos) << err;
  err = config_error(json{{"block_out_channels", {48}}});  // 48 % 32 != 0
  EXPECT_NE(err.find("norm_num_groups"), std::string::npos) << err;
  err = config_error(json{{"act_fn", "gelu"}});
  EXPECT_NE(err.find("'act_fn'"), std::string::npos) << err;
  err = config_error(json{{"latent_channels", 0}});
  EXPECT_NE(err.find("'latent_channels'"), std::string::npos) << err;
  err = config_error(json{{"layers_per_block", "2"}});  // wrong type
  EXPECT_NE(err.find("'layers_per_block'"), std::string::npos) << err;
  err = config_error(json{{"scaling_factor", -1.0}});
  EXPECT_NE(err.find("'scaling_factor'"), std::string::npos) << err;
  err = config_error(json{{"block_out_channels", json::array()}});
  EXPECT_NE(err.find("'block_out_channels'"), std::string::npos) << err;
  EXPECT_THROW(VaeConfig::from_json(json::array(), "cfg.json"), ConfigError);
  EXPECT_THROW(VaeConfig::from_file(test::vae_dir() / "no-such-config.json"), IoError);
}

}  // namespace
}  // namespace i2v::vae
