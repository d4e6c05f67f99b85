// Weights that do not fit the configuration, and inputs the towers cannot take: typed errors
// that name what is wrong, never a crash.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "clip/clip_test_util.h"
#include "i2v/error.h"
#include "i2v/io/safetensors.h"
#include "i2v/models/clip/clip_loading.h"
#include "i2v/weights/json_config.h"

namespace i2v::clip {
namespace {

template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no error of the expected type)";
}

weights::StateDict text_weights() {
  return weights::StateDict::open({test::clip_text_dir() / "model.safetensors"});
}
weights::StateDict vision_weights() {
  return weights::StateDict::open({test::clip_vision_dir() / "model.safetensors"});
}
nlohmann::json text_json() {
  return weights::read_json_file(test::clip_text_dir() / "config.json");
}
nlohmann::json vision_json() {
  return weights::read_json_file(test::clip_vision_dir() / "config.json");
}

TEST(ClipLoadErrors, HiddenSizeDisagreeingWithTheFileListsTensors) {
  nlohmann::json j = text_json();
  j["hidden_size"] = 64;
  auto config = ClipTextConfig::from_json(j, "edited config");
  std::string msg = error_of<ShapeError>([&] { load_clip_text_model(config, text_weights()); });
  EXPECT_NE(msg.find("text_encoder"), std::string::npos) << msg;
  // Every parameter but the intermediate-sized fc1 bias (34 of 36) is mis-shaped.
  EXPECT_NE(msg.find("34 mis-shaped"), std::string::npos) << msg;
  EXPECT_NE(msg.find("text_model.encoder.layers.0.layer_norm1.weight: file [32], model [64]"),
            std::string::npos)
      << msg;
  EXPECT_NE(
      msg.find("text_model.embeddings.token_embedding.weight: file [770, 32], model [770, 64]"),
      std::string::npos)
      << msg;
}

TEST(ClipLoadErrors, ExtraLayerIsMissingFewerLayersAreUnexpected) {
  nlohmann::json j = text_json();
  j["num_hidden_layers"] = 3;
  std::string msg = error_of<ShapeError>(
      [&] { load_clip_text_model(ClipTextConfig::from_json(j, "c"), text_weights()); });
  EXPECT_NE(msg.find("text_model.encoder.layers.2.mlp.fc1.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;

  j["num_hidden_layers"] = 1;
  msg = error_of<ShapeError>(
      [&] { load_clip_text_model(ClipTextConfig::from_json(j, "c"), text_weights()); });
  EXPECT_NE(msg.find("text_model.encoder.layers.1.self_attn.q_proj.weight"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("unexpected"), std::string::npos) << msg;
}

TEST(ClipLoadErrors, VisionProjectionAndPatchMismatch) {
  nlohmann::json j = vision_json();
  j["projection_dim"] = 48;  // a square projection would hide a transposed one; the file has 32
  j["patch_size"] = 16;
  std::string msg = error_of<ShapeError>(
      [&] { load_clip_vision_model(ClipVisionConfig::from_json(j, "c"), vision_weights()); });
  EXPECT_NE(msg.find("image_encoder"), std::string::npos) << msg;
  EXPECT_NE(msg.find("visual_projection.weight: file [32, 48], model [48, 48]"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("vision_model.embeddings.patch_embedding.weight: file [48, 3, 8, 8]"),
            std::string::npos)
      << msg;
  EXPECT_NE(
      msg.find("vision_model.embeddings.position_embedding.weight: file [17, 48], model [5, 48]"),
      std::string::npos)
      << msg;
}

TEST(ClipLoadErrors, TextWeightsIntoVisionModel) {
  auto config = ClipVisionConfig::from_file(test::clip_vision_dir() / "config.json");
  EXPECT_THROW(load_clip_vision_model(config, text_weights()), ShapeError);
}

TEST(ClipLoadErrors, MissingFolderOrVariant) {
  test::TempDir dir;
  EXPECT_THROW(load_clip_text_model(dir.path()), IoError);  // no config.json
  ClipLoadOptions options;
  options.variant = weights::VariantMode::Bf16;  // the tiny pipeline has fp32 and fp16 only
  EXPECT_THROW(load_clip_text_model(test::clip_text_dir(), options), ConfigError);
}

// Exports from transformers < 4.31 carry the embeddings' position_ids buffer; it is accepted and
// changes nothing.
TEST(ClipLoad, AcceptsLegacyPositionIdsBuffer) {
  test::TempDir dir;
  auto tensors = io::load_safetensors(test::clip_text_dir() / "model.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> list(tensors.begin(), tensors.end());
  list.emplace_back("text_model.embeddings.position_ids", at::arange(77).unsqueeze(0));
  io::save_safetensors(dir / "model.safetensors", list);
  auto config = ClipTextConfig::from_file(test::clip_text_dir() / "config.json");
  auto legacy = load_clip_text_model(config, weights::StateDict::open({dir / "model.safetensors"}));
  auto plain = load_clip_text_model(config, text_weights());
  at::Tensor ids = test::golden_tensor("pipeline_run.safetensors", "prompt_input_ids");
  EXPECT_TRUE(at::equal(legacy->prompt_embeds(ids), plain->prompt_embeds(ids)));

  // A buffer of the wrong length is still caught.
  list.back().second = at::arange(70).unsqueeze(0);
  io::save_safetensors(dir / "bad.safetensors", list);
  std::string msg = error_of<ShapeError>(
      [&] { load_clip_text_model(config, weights::StateDict::open({dir / "bad.safetensors"})); });
  EXPECT_NE(msg.find("position_ids"), std::string::npos) << msg;
}

class ClipInputErrors : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    text_ = load_clip_text_model(test::clip_text_dir());
    vision_ = load_clip_vision_model(test::clip_vision_dir());
  }
  static void TearDownTestSuite() {
    text_.reset();
    vision_.reset();
  }
  static std::shared_ptr<ClipTextModel> text_;
  static std::shared_ptr<ClipVisionModelWithProjection> vision_;
};
std::shared_ptr<ClipTextModel> ClipInputErrors::text_;
std::shared_ptr<ClipVisionModelWithProjection> ClipInputErrors::vision_;

TEST_F(ClipInputErrors, TokenIds) {
  at::Tensor ids = at::zeros({1, 77}, at::kLong);
  ids[0][5] = 770;  // vocabulary is 770
  std::string msg = error_of<ShapeError>([&] { text_->forward(ids); });
  EXPECT_NE(msg.find("770"), std::string::npos) << msg;
  ids[0][5] = -1;
  EXPECT_THROW(text_->prompt_embeds(ids), ShapeError);
  EXPECT_THROW(text_->forward(at::zeros({1, 78}, at::kLong)), ShapeError);  // > 77 positions
  EXPECT_THROW(text_->forward(at::zeros({1, 0}, at::kLong)), ShapeError);
  EXPECT_THROW(text_->forward(at::zeros({1, 77}, at::kFloat)), ShapeError);
  EXPECT_THROW(text_->forward(at::zeros({1, 2, 77}, at::kLong)), ShapeError);
  EXPECT_THROW(text_->forward(at::Tensor()), ShapeError);
  EXPECT_THROW(text_->forward(at::zeros({2, 77}, at::kLong), at::ones({2, 76}, at::kLong)),
               ShapeError);
  EXPECT_THROW(text_->prompt_embeds(at::zeros({1, 77}, at::kLong), 3), ConfigError);
  EXPECT_THROW(text_->prompt_embeds(at::zeros({1, 77}, at::kLong), -1), ConfigError);
  // int32 ids and short sequences are fine.
  EXPECT_EQ(text_->forward(at::zeros({2, 10}, at::kInt)).last_hidden_state.sizes(),
            (std::vector<int64_t>{2, 10, 32}));
}

TEST_F(ClipInputErrors, PixelValues) {
  std::string msg = error_of<ShapeError>([&] { vision_->forward(at::zeros({1, 3, 64, 64})); });
  EXPECT_NE(msg.find("(N, 3, 32, 32)"), std::string::npos) << msg;
  EXPECT_THROW(vision_->forward(at::zeros({1, 1, 32, 32})), ShapeError);
  EXPECT_THROW(vision_->forward(at::zeros({3, 32, 32})), ShapeError);
  EXPECT_THROW(vision_->forward(at::zeros({1, 3, 32, 32}, at::kByte)), ShapeError);
  EXPECT_THROW(vision_->forward(at::Tensor()), ShapeError);
}

// transformers 4.45 pools at the first eos_token_id unless the config has the old eos id 2.
TEST(ClipTextPooling, FirstEosTokenForNewConfigs) {
  nlohmann::json j = text_json();
  j["eos_token_id"] = 7;
  auto model = load_clip_text_model(ClipTextConfig::from_json(j, "c"), text_weights());
  at::Tensor ids = at::full({2, 12}, 100, at::kLong);
  ids[0][4] = 7;
  ids[0][9] = 7;
  ids[0][6] = 769;  // the largest id (where the legacy rule would pool)
  ClipTextOutput out = model->forward(ids);
  EXPECT_TRUE(at::equal(out.pooler_output[0], out.last_hidden_state[0][4]));
  EXPECT_TRUE(at::equal(out.pooler_output[1], out.last_hidden_state[1][0]));  // no eos: position 0

  auto legacy = load_clip_text_model(test::clip_text_dir());  // eos_token_id 2
  ClipTextOutput old = legacy->forward(ids);
  EXPECT_TRUE(at::equal(old.pooler_output[0], old.last_hidden_state[0][6]));
}

}  // namespace
}  // namespace i2v::clip
