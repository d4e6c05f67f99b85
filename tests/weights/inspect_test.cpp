// `i2v inspect` on the golden pipeline: exits 0 and reports each component's weights.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "i2v/weights/model_dir.h"
#include "weights_test_util.h"

namespace i2v::weights {
namespace {

namespace fs = std::filesystem;

int64_t parameter_count(const fs::path& file) {
  StateDict sd = StateDict::open({file});
  int64_t n = 0;
  for (const auto& name : sd.names()) n += sd.info(name).numel();
  return n;
}

std::string inspect(const std::string& args, int* rc) {
  std::string out;
  *rc = test::run_command(test::i2v_binary().string() + " inspect " + args, &out);
  return out;
}

class Inspect : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(test::i2v_binary()))
      GTEST_FAIL() << "build the i2v binary first (target i2v_cli): " << test::i2v_binary();
  }
};

TEST_F(Inspect, GoldenPipelineText) {
  int rc = -1;
  std::string out = inspect("--model " + test::golden_pipeline().string(), &rc);
  ASSERT_EQ(rc, 0) << out;
  int64_t unet =
      parameter_count(test::golden_pipeline() / "unet" / "diffusion_pytorch_model.safetensors");
  EXPECT_GT(unet, 0);
  EXPECT_NE(out.find(std::to_string(unet) + " parameters"), std::string::npos) << out;
  for (const char* s : {"I2VGenXLPipeline", "unet: diffusers.I2VGenXLUNet",
                        "unet/diffusion_pytorch_model.safetensors", "also variant fp16: ok",
                        "image_encoder: transformers.CLIPVisionModelWithProjection",
                        "scheduler/scheduler_config.json", "all weight files open"})
    EXPECT_NE(out.find(s), std::string::npos) << "'" << s << "' not in:\n" << out;
}

TEST_F(Inspect, GoldenPipelineJsonFp16) {
  int rc = -1;
  std::string out =
      inspect("--model " + test::golden_pipeline().string() + " --variant fp16 --json", &rc);
  ASSERT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out);
  const auto& unet = j.at("components").at("unet");
  EXPECT_EQ(unet.at("variant"), "fp16");
  EXPECT_EQ(unet.at("files").at(0), "unet/diffusion_pytorch_model.fp16.safetensors");
  EXPECT_EQ(
      unet.at("parameters").get<int64_t>(),
      parameter_count(test::golden_pipeline() / "unet" / "diffusion_pytorch_model.safetensors"));
  EXPECT_EQ(unet.at("dtypes").size(), 1u);
  EXPECT_EQ(unet.at("dtypes").at("F16").get<int64_t>(), unet.at("tensors").get<int64_t>());
  EXPECT_EQ(
      unet.at("bytes").get<uint64_t>(),
      fs::file_size(test::golden_pipeline() / "unet" / "diffusion_pytorch_model.fp16.safetensors"));
  EXPECT_FALSE(j.at("components").at("tokenizer").contains("files"));
  EXPECT_TRUE(j.at("ok").get<bool>());
}

TEST_F(Inspect, BrokenWeightFileFailsAndMissingVariantIsAnError) {
  test::TempDir tmp;
  fs::copy(test::golden_pipeline(), tmp / "p", fs::copy_options::recursive);
  // Truncate the vae's fp16 file: the header claims more data than there is.
  fs::resize_file(tmp / "p" / "vae" / "diffusion_pytorch_model.fp16.safetensors", 1000);
  int rc = -1;
  std::string out = inspect("--model " + (tmp / "p").string(), &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("also variant fp16: ERROR"), std::string::npos) << out;
  out = inspect("--model " + test::golden_pipeline().string() + " --variant bf16", &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("no bf16 weights"), std::string::npos) << out;
  out = inspect("--model nobody/nothing", &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("models--nobody--nothing"), std::string::npos) << out;
}

TEST_F(Inspect, InvalidSchedulerConfigIsReported) {
  test::TempDir tmp;
  fs::copy(test::golden_pipeline(), tmp / "p", fs::copy_options::recursive);
  auto j = read_json_file(tmp / "p" / "scheduler" / "scheduler_config.json");
  j["prediction_type"] = "noise";
  std::ofstream(tmp / "p" / "scheduler" / "scheduler_config.json") << j.dump();
  int rc = -1;
  std::string out = inspect("--model " + (tmp / "p").string(), &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("prediction_type"), std::string::npos) << out;
  EXPECT_NE(out.find("'noise'"), std::string::npos) << out;
}

}  // namespace
}  // namespace i2v::weights
