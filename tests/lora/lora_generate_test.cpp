// LoRA through the public API and the CLI on the golden tiny pipeline: every plan, merged and
// unmerged, 8-bit weights, metadata, errors.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "i2v/i2v.h"
#include "i2v/io/sha256.h"
#include "i2v/modelgen/quantize_model.h"
#include "i2v/models/clip/clip_loading.h"
#include "i2v/models/unet/i2vgen_xl_unet.h"
#include "i2v/weights/state_dict.h"
#include "lora/lora_files.h"
#include "support/test_support.h"

namespace i2v {
namespace {
namespace fs = std::filesystem;

Request small_request() {
  Request r;
  r.image = Image::from_file((test::golden_dir() / "input_image.png").string());
  r.prompt = "A red fox";
  r.negative_prompt = "blurry";
  r.width = 80;
  r.height = 48;
  r.frames = 4;
  r.steps = 2;
  r.seed = 5;
  return r;
}

double frame_difference(const Result& a, const Result& b) {  // mean |a - b| in 0..255 units
  double sum = 0;
  for (size_t i = 0; i < a.video.rgb.size(); ++i) sum += std::abs(a.video.rgb[i] - b.video.rgb[i]);
  return sum / static_cast<double>(a.video.rgb.size());
}

// One LoRA file for the UNet (attention and feed-forward) and the text encoder, kohya layout.
class LoraGenerate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    const fs::path unet_dir = test::golden_pipeline() / "unet";
    unet::I2VGenXLUNet u(unet::UNetConfig::from_file(unet_dir / "config.json"));
    auto adapters = test::random_adapters(*u, "unet", {"attn1.to_", "attn2.to_", ".ff."}, 4, 21);
    auto te = clip::load_clip_text_model(test::golden_pipeline() / "text_encoder");
    for (auto& a : test::random_adapters(*te, "text_encoder", {"q_proj", "v_proj"}, 4, 22))
      adapters.push_back(a);
    test::write_lora(*dir_ / "style.safetensors", test::LoraLayout::Kohya, adapters);
    ModelOptions m;
    m.model = test::golden_pipeline().string();
    m.precision = "fp32";
    generator_ = new Generator(Generator::open(m));
    base_ = new Result(generator_->generate(small_request()));
  }
  static void TearDownTestSuite() {
    delete base_;
    delete generator_;
    delete dir_;
  }
  static Request with_lora(double scale, const std::string& mode,
                           const std::string& plan = "auto") {
    Request r = small_request();
    r.loras.push_back({(*dir_ / "style.safetensors").string(), scale});
    r.lora_mode = mode;
    r.plan = plan;
    return r;
  }
  static test::TempDir* dir_;
  static Generator* generator_;
  static Result* base_;
};
test::TempDir* LoraGenerate::dir_ = nullptr;
Generator* LoraGenerate::generator_ = nullptr;
Result* LoraGenerate::base_ = nullptr;

TEST_F(LoraGenerate, MergedAndUnmergedAgreeOnEveryPlanAndMetadataRecordsTheLora) {
  const Result merged = generator_->generate(with_lora(1.0, "merged", "plain"));
  EXPECT_GT(frame_difference(merged, *base_), 1.0) << "the LoRA must change the video";
  for (const char* plan : {"plain", "chunked", "stream"}) {
    const Result unmerged = generator_->generate(with_lora(1.0, "unmerged", plan));
    EXPECT_LT(frame_difference(unmerged, merged), 0.05) << plan;
  }
  const auto meta = nlohmann::json::parse(merged.metadata_json);
  ASSERT_EQ(meta["loras"].size(), 1u);
  const auto& l = meta["loras"][0];
  EXPECT_EQ(l["file"], "style.safetensors");
  EXPECT_EQ(l["sha256"], io::sha256_file(*dir_ / "style.safetensors"));
  EXPECT_EQ(l["scale"], 1.0);
  EXPECT_EQ(l["layout"], "kohya");
  EXPECT_GT(l["modules"]["unet"].get<int>(), 10);
  EXPECT_EQ(l["modules"]["text_encoder"], 4);  // q_proj and v_proj of 2 layers
  EXPECT_EQ(meta["lora_modes"]["unet"], "merged");
  EXPECT_EQ(meta["lora_modes"]["text_encoder"], "merged");
  EXPECT_EQ(meta["params"]["lora_mode"], "merged");
  EXPECT_TRUE(meta["exact"].get<bool>());
  // Auto: merged, except under the stream plan.
  const auto streamed =
      nlohmann::json::parse(generator_->generate(with_lora(1.0, "auto", "stream")).metadata_json);
  EXPECT_EQ(streamed["lora_modes"]["unet"], "unmerged");
}

TEST_F(LoraGenerate, ScaleZeroAndNoLoraAfterwardsGiveTheBaseVideo) {
  EXPECT_EQ(generator_->generate(with_lora(0.0, "merged")).video.rgb, base_->video.rgb);
  EXPECT_EQ(generator_->generate(with_lora(0.0, "unmerged")).video.rgb, base_->video.rgb);
  generator_->generate(with_lora(1.0, "merged"));
  EXPECT_EQ(generator_->generate(small_request()).video.rgb, base_->video.rgb)
      << "a LoRA must not stay on the model after its generation";
}

// A merged LoRA holds a copy of each adapted weight: the plan's predicted peak counts it.
TEST_F(LoraGenerate, MergedLorasCountInTheEstimate) {
  // The UNet stage: on the tiny model the VAE decode may set the overall peak.
  const auto unet_stage = [&](const Request& r) {
    return nlohmann::json::parse(generator_->estimate(r).json)["stages"]["unet"].get<int64_t>();
  };
  Request r = small_request();
  r.plan = "plain";
  const int64_t base = unet_stage(r);
  EXPECT_GT(unet_stage(with_lora(1.0, "merged", "plain")), base);
  EXPECT_EQ(unet_stage(with_lora(1.0, "unmerged", "plain")), base);
}

TEST_F(LoraGenerate, BadLorasAreClearErrors) {
  Request r = with_lora(1.0, "sideways");
  EXPECT_THROW(generator_->validate(r), ConfigError);
  r = with_lora(1e9, "auto");
  EXPECT_THROW(generator_->generate(r), ConfigError);
  r = small_request();
  r.loras.push_back({(*dir_ / "nope.safetensors").string(), 1.0});
  try {
    generator_->generate(r);
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("nope.safetensors"), std::string::npos);
  }
}

// 8-bit weights: auto applies the LoRA unmerged on them; merged is refused by name.
TEST(LoraEightBit, UnmergedOnInt8WeightsEqualsTheDequantizedModelWithTheLora) {
  test::TempDir tmp;
  modelgen::QuantizeOptions q;
  q.model = test::golden_pipeline().string();
  q.out_dir = tmp / "int8";
  q.components = {"unet", "text_encoder"};
  modelgen::quantize_model(q);
  const fs::path unet_dir = test::golden_pipeline() / "unet";
  unet::I2VGenXLUNet u(unet::UNetConfig::from_file(unet_dir / "config.json"));
  test::write_lora(tmp / "l.safetensors", test::LoraLayout::Peft,
                   test::random_adapters(*u, "unet", {"attn1.to_", "proj_in"}, 4, 8));
  ModelOptions m;
  m.model = (tmp / "int8").string();
  m.precision = "fp32";
  Generator g = Generator::open(m);
  Request r = small_request();
  const Result plain = g.generate(r);
  r.loras.push_back({(tmp / "l.safetensors").string(), 1.0});
  const Result adapted = g.generate(r);
  EXPECT_GT(frame_difference(adapted, plain), 1.0);
  const auto meta = nlohmann::json::parse(adapted.metadata_json);
  EXPECT_EQ(meta["lora_modes"]["unet"], "merged+unmerged");  // 8-bit attention, plain proj_in
  EXPECT_FALSE(meta["exact"].get<bool>());
  r.plan = "stream";
  EXPECT_LT(frame_difference(g.generate(r), adapted), 0.05);
  r.lora_mode = "merged";
  try {
    g.generate(r);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("8-bit"), std::string::npos) << e.what();
  }
}

TEST(LoraCli, GenerateWithLoraFileAndScale) {
  test::TempDir tmp;
  const fs::path unet_dir = test::golden_pipeline() / "unet";
  unet::I2VGenXLUNet u(unet::UNetConfig::from_file(unet_dir / "config.json"));
  test::write_lora(tmp / "a.safetensors", test::LoraLayout::Peft,
                   test::random_adapters(*u, "unet", {"attn2.to_k"}, 2, 1));
  const std::string cmd = test::i2v_binary().string() + " generate --model " +
                          test::golden_pipeline().string() + " --image " +
                          (test::golden_dir() / "input_image.png").string() +
                          " --prompt fox --width 80 --height 48 --frames 4 --steps 1 "
                          "--precision fp32 --seed 3 --lora " +
                          (tmp / "a.safetensors").string() + ":0.5 --lora-mode unmerged --output " +
                          (tmp / "v.mp4").string();
  std::string out;
  ASSERT_EQ(test::run_command(cmd, &out), 0) << out;
  std::ifstream in(tmp / "v.mp4.json");
  const auto meta = nlohmann::json::parse(in);
  EXPECT_EQ(meta["loras"][0]["scale"], 0.5);
  EXPECT_EQ(meta["loras"][0]["sha256"], io::sha256_file(tmp / "a.safetensors"));
  EXPECT_EQ(meta["lora_modes"]["unet"], "unmerged");
  // A file that does not fit: the command fails naming it, and writes no video.
  test::write_lora(tmp / "bad.safetensors", test::LoraLayout::Peft,
                   {{"unet", "no.such.layer", at::zeros({2, 4}), at::zeros({4, 2}), {}}});
  const std::string bad = cmd.substr(0, cmd.find("--lora ")) + "--lora " +
                          (tmp / "bad.safetensors").string() + " --output " +
                          (tmp / "w.mp4").string();
  EXPECT_NE(test::run_command(bad, &out), 0);
  EXPECT_NE(out.find("bad.safetensors"), std::string::npos) << out;
  EXPECT_NE(out.find("no.such.layer"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(tmp / "w.mp4"));
}

}  // namespace
}  // namespace i2v
