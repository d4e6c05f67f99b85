// Typed CLIP configs (transformers 4.45 defaults for absent keys) and the activation table.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <fstream>

#include "clip/clip_test_util.h"
#include "i2v/error.h"
#include "i2v/models/clip/clip_activation.h"
#include "i2v/models/clip/clip_config.h"

namespace i2v::clip {
namespace {

using nlohmann::json;

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no ConfigError)";
}

TEST(ClipConfig, AbsentKeysTakeTransformersDefaults) {
  ClipTextConfig t = ClipTextConfig::from_json(json::object(), "t.json");
  EXPECT_EQ(t.vocab_size, 49408);
  EXPECT_EQ(t.hidden_size, 512);
  EXPECT_EQ(t.intermediate_size, 2048);
  EXPECT_EQ(t.projection_dim, 512);
  EXPECT_EQ(t.num_hidden_layers, 12);
  EXPECT_EQ(t.num_attention_heads, 8);
  EXPECT_EQ(t.max_position_embeddings, 77);
  EXPECT_EQ(t.hidden_act, "quick_gelu");
  EXPECT_EQ(t.activation, Activation::QuickGelu);
  EXPECT_DOUBLE_EQ(t.layer_norm_eps, 1e-5);
  EXPECT_EQ(t.pad_token_id, 1);
  EXPECT_EQ(t.bos_token_id, 49406);
  EXPECT_EQ(t.eos_token_id, 49407);

  ClipVisionConfig v = ClipVisionConfig::from_json(json::object(), "v.json");
  EXPECT_EQ(v.hidden_size, 768);
  EXPECT_EQ(v.intermediate_size, 3072);
  EXPECT_EQ(v.projection_dim, 512);
  EXPECT_EQ(v.num_hidden_layers, 12);
  EXPECT_EQ(v.num_attention_heads, 12);
  EXPECT_EQ(v.num_channels, 3);
  EXPECT_EQ(v.image_size, 224);
  EXPECT_EQ(v.patch_size, 32);
  EXPECT_EQ(v.activation, Activation::QuickGelu);
  EXPECT_EQ(v.num_positions(), 50);
}

TEST(ClipConfig, TinyPipelineConfigs) {
  ClipTextConfig t = ClipTextConfig::from_file(test::clip_text_dir() / "config.json");
  EXPECT_EQ(t.vocab_size, 770);
  EXPECT_EQ(t.hidden_size, 32);
  EXPECT_EQ(t.num_hidden_layers, 2);
  EXPECT_EQ(t.num_attention_heads, 4);
  EXPECT_EQ(t.intermediate_size, 64);
  EXPECT_EQ(t.activation, Activation::Gelu);
  EXPECT_EQ(t.eos_token_id, 2);
  EXPECT_EQ(t.bos_token_id, 0);

  ClipVisionConfig v = ClipVisionConfig::from_file(test::clip_vision_dir() / "config.json");
  EXPECT_EQ(v.hidden_size, 48);
  EXPECT_EQ(v.projection_dim, 32);
  EXPECT_EQ(v.image_size, 32);
  EXPECT_EQ(v.patch_size, 8);
  EXPECT_EQ(v.num_positions(), 17);
  EXPECT_EQ(v.activation, Activation::Gelu);
}

TEST(ClipConfig, OfficialConfigs) {
  ClipTextConfig t = ClipTextConfig::from_file(test::official_config("text_encoder"));
  EXPECT_EQ(t.hidden_size, 1024);
  EXPECT_EQ(t.num_hidden_layers, 24);
  EXPECT_EQ(t.head_dim(), 64);
  ClipVisionConfig v = ClipVisionConfig::from_file(test::official_config("image_encoder"));
  EXPECT_EQ(v.hidden_size, 1280);
  EXPECT_EQ(v.num_hidden_layers, 32);
  EXPECT_EQ(v.head_dim(), 80);
  EXPECT_EQ(v.num_positions(), 257);
  EXPECT_EQ(v.projection_dim, 1024);
}

TEST(ClipConfig, NestedClipConfigUsesTowerSection) {
  json j = {{"model_type", "clip"},
            {"text_config", {{"hidden_size", 64}, {"num_attention_heads", 4}}},
            {"vision_config", {{"hidden_size", 96}, {"num_attention_heads", 6}}}};
  EXPECT_EQ(ClipTextConfig::from_json(j, "c.json").hidden_size, 64);
  EXPECT_EQ(ClipVisionConfig::from_json(j, "c.json").hidden_size, 96);
}

TEST(ClipConfig, InvalidValuesAreConfigErrors) {
  std::string msg = error_of([] {
    ClipTextConfig::from_json({{"hidden_act", "gelu_fancy"}}, "x.json");
  });
  EXPECT_NE(msg.find("x.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("gelu_fancy"), std::string::npos) << msg;
  EXPECT_NE(msg.find("quick_gelu"), std::string::npos) << msg;  // lists what is supported

  msg = error_of([] { ClipTextConfig::from_json({{"hidden_size", "32"}}, "x.json"); });
  EXPECT_NE(msg.find("hidden_size"), std::string::npos) << msg;

  msg = error_of([] {
    ClipVisionConfig::from_json({{"hidden_size", 50}, {"num_attention_heads", 4}}, "v.json");
  });
  EXPECT_NE(msg.find("divisible"), std::string::npos) << msg;

  msg = error_of([] { ClipTextConfig::from_json({{"num_hidden_layers", 0}}, "x.json"); });
  EXPECT_NE(msg.find("num_hidden_layers"), std::string::npos) << msg;

  msg = error_of([] { ClipVisionConfig::from_json({{"patch_size", 300}}, "v.json"); });
  EXPECT_NE(msg.find("patch_size"), std::string::npos) << msg;

  EXPECT_THROW(ClipTextConfig::from_json(json::array(), "x.json"), ConfigError);
  EXPECT_THROW(ClipTextConfig::from_file("/nonexistent/config.json"), IoError);
}

TEST(ClipActivation, MatchesTheReferenceFormulas) {
  at::Tensor x = at::tensor({-3.0, -1.0, 0.5, 1.0, 12.0}, at::kDouble);
  auto at_ = [&](const std::string& name) {
    return apply_activation(parse_activation(name, "test"), x);
  };
  at::Tensor erf_gelu = 0.5 * x * (1 + at::erf(x / std::sqrt(2.0)));
  at::Tensor tanh_gelu =
      0.5 * x * (1 + at::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x.pow(3))));
  EXPECT_TRUE(at::allclose(at_("gelu"), erf_gelu, 0, 1e-12));
  EXPECT_TRUE(at::allclose(at_("gelu_python"), erf_gelu, 0, 1e-12));
  for (const char* name : {"gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_accurate"})
    EXPECT_TRUE(at::allclose(at_(name), tanh_gelu, 0, 1e-9)) << name;
  EXPECT_TRUE(at::allclose(at_("quick_gelu"), x * at::sigmoid(1.702 * x), 0, 1e-12));
  EXPECT_TRUE(at::allclose(at_("gelu_10"), erf_gelu.clamp(-10, 10), 0, 1e-12));
  EXPECT_TRUE(at::allclose(at_("relu"), x.clamp_min(0), 0, 0));
  EXPECT_TRUE(at::allclose(at_("relu6"), x.clamp(0, 6), 0, 0));
  EXPECT_TRUE(at::allclose(at_("silu"), x * at::sigmoid(x), 0, 1e-12));
  EXPECT_TRUE(at::allclose(at_("swish"), x * at::sigmoid(x), 0, 1e-12));
  EXPECT_TRUE(at::allclose(at_("mish"), x * at::tanh(at::softplus(x)), 0, 1e-12));
  EXPECT_TRUE(at::equal(at_("linear"), x));
  // quick_gelu and gelu really differ (a config that names the wrong one would be caught).
  EXPECT_FALSE(at::allclose(at_("quick_gelu"), erf_gelu, 0, 1e-3));
  EXPECT_THROW(parse_activation("GELU", "test"), ConfigError);
}

}  // namespace
}  // namespace i2v::clip
