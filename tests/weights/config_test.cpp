// Typed configs: DDIMScheduler, CLIPImageProcessor and the JSON helpers, against the golden and
// the official I2VGen-XL config files and against diffusers/transformers defaults.
#include <gtest/gtest.h>

#include "i2v/error.h"
#include "i2v/weights/image_processor_config.h"
#include "i2v/weights/json_config.h"
#include "i2v/weights/model_index.h"
#include "i2v/weights/scheduler_config.h"
#include "support/test_support.h"

namespace i2v::weights {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path official() {
  return test::shared_dir() / "data" / "i2vgen-xl-official-configs";
}

void expect_i2vgen_scheduler(const DDIMSchedulerConfig& c) {
  EXPECT_EQ(c.num_train_timesteps, 1000);
  EXPECT_DOUBLE_EQ(c.beta_start, 0.0001);
  EXPECT_DOUBLE_EQ(c.beta_end, 0.02);
  EXPECT_EQ(c.beta_schedule, "squaredcos_cap_v2");
  EXPECT_FALSE(c.trained_betas);
  EXPECT_FALSE(c.clip_sample);
  EXPECT_DOUBLE_EQ(c.clip_sample_range, 1.0);
  EXPECT_TRUE(c.set_alpha_to_one);
  EXPECT_EQ(c.steps_offset, 1);
  EXPECT_EQ(c.prediction_type, "v_prediction");
  EXPECT_FALSE(c.thresholding);
  EXPECT_DOUBLE_EQ(c.dynamic_thresholding_ratio, 0.995);
  EXPECT_DOUBLE_EQ(c.sample_max_value, 1.0);
  EXPECT_EQ(c.timestep_spacing, "leading");
  EXPECT_TRUE(c.rescale_betas_zero_snr);
}

TEST(SchedulerConfig, GoldenAndOfficialFiles) {
  expect_i2vgen_scheduler(
      DDIMSchedulerConfig::load(test::golden_pipeline() / "scheduler" / "scheduler_config.json"));
  expect_i2vgen_scheduler(
      DDIMSchedulerConfig::load(official() / "scheduler" / "scheduler_config.json"));
}

TEST(SchedulerConfig, AbsentKeysTakeDiffusersDefaults) {
  auto c = DDIMSchedulerConfig::parse(json::object(), "test");
  EXPECT_EQ(c.num_train_timesteps, 1000);
  EXPECT_DOUBLE_EQ(c.beta_start, 0.0001);
  EXPECT_DOUBLE_EQ(c.beta_end, 0.02);
  EXPECT_EQ(c.beta_schedule, "linear");
  EXPECT_TRUE(c.clip_sample);
  EXPECT_TRUE(c.set_alpha_to_one);
  EXPECT_EQ(c.steps_offset, 0);
  EXPECT_EQ(c.prediction_type, "epsilon");
  EXPECT_FALSE(c.thresholding);
  EXPECT_EQ(c.timestep_spacing, "leading");
  EXPECT_FALSE(c.rescale_betas_zero_snr);
  // null means "use the default" as well.
  EXPECT_EQ(DDIMSchedulerConfig::parse({{"steps_offset", nullptr}}, "t").steps_offset, 0);
  // Round trip.
  auto j = c.to_json();
  auto c2 = DDIMSchedulerConfig::parse(j, "roundtrip");
  EXPECT_EQ(c2.beta_schedule, c.beta_schedule);
  EXPECT_EQ(c2.prediction_type, c.prediction_type);
}

TEST(SchedulerConfig, RejectsBadValuesNamingFileAndKey) {
  auto expect_error = [](const json& j, const std::string& key) {
    try {
      DDIMSchedulerConfig::parse(j, "sched.json");
      FAIL() << j.dump();
    } catch (const ConfigError& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find("sched.json"), std::string::npos) << msg;
      EXPECT_NE(msg.find(key), std::string::npos) << msg;
    }
  };
  expect_error({{"beta_schedule", "cosine"}}, "beta_schedule");
  expect_error({{"prediction_type", "noise"}}, "prediction_type");
  expect_error({{"timestep_spacing", "uniform"}}, "timestep_spacing");
  expect_error({{"num_train_timesteps", "1000"}}, "num_train_timesteps");
  expect_error({{"num_train_timesteps", 0}}, "num_train_timesteps");
  expect_error({{"clip_sample", 1}}, "clip_sample");
  expect_error({{"steps_offset", 1.5}}, "steps_offset");
  expect_error({{"trained_betas", {0.1, 0.2}}}, "trained_betas");
  expect_error({{"_class_name", "EulerDiscreteScheduler"}}, "EulerDiscreteScheduler");
  // trained_betas of the right length replace the named schedule.
  auto c = DDIMSchedulerConfig::parse(
      {{"num_train_timesteps", 3}, {"trained_betas", {0.1, 0.2, 0.3}}, {"beta_schedule", "x"}},
      "t");
  EXPECT_EQ(c.trained_betas->size(), 3u);
}

void expect_clip_processor(const ClipImageProcessorConfig& c, int64_t edge) {
  EXPECT_TRUE(c.do_resize);
  EXPECT_EQ(c.size.shortest_edge, edge);
  EXPECT_FALSE(c.size.height);
  EXPECT_EQ(c.resample, 3);
  EXPECT_TRUE(c.do_center_crop);
  EXPECT_EQ(c.crop_height, edge);
  EXPECT_EQ(c.crop_width, edge);
  EXPECT_TRUE(c.do_rescale);
  EXPECT_DOUBLE_EQ(c.rescale_factor, 1.0 / 255.0);
  EXPECT_TRUE(c.do_normalize);
  EXPECT_EQ(c.image_mean, (std::vector<double>{0.48145466, 0.4578275, 0.40821073}));
  EXPECT_EQ(c.image_std, (std::vector<double>{0.26862954, 0.26130258, 0.27577711}));
  EXPECT_TRUE(c.do_convert_rgb);
}

TEST(ImageProcessorConfig, GoldenOfficialAndDefaults) {
  expect_clip_processor(
      ClipImageProcessorConfig::load(test::golden_pipeline() / "feature_extractor" /
                                     "preprocessor_config.json"),
      32);
  expect_clip_processor(
      ClipImageProcessorConfig::load(official() / "feature_extractor" / "preprocessor_config.json"),
      224);
  expect_clip_processor(ClipImageProcessorConfig::parse(json::object(), "t"), 224);
}

TEST(ImageProcessorConfig, LegacyFormsAndErrors) {
  // Old configs: ints for size (shortest edge) and crop_size (square), a scalar mean.
  auto c = ClipImageProcessorConfig::parse(
      {{"size", 256}, {"crop_size", 240}, {"image_mean", 0.5}, {"do_center_crop", false}}, "t");
  EXPECT_EQ(c.size.shortest_edge, 256);
  EXPECT_EQ(c.crop_height, 240);
  EXPECT_EQ(c.crop_width, 240);
  EXPECT_EQ(c.image_mean, (std::vector<double>{0.5, 0.5, 0.5}));
  EXPECT_FALSE(c.do_center_crop);
  auto hw = ClipImageProcessorConfig::parse(
      {{"size", {{"height", 20}, {"width", 30}}}, {"crop_size", {{"height", 10}, {"width", 12}}}},
      "t");
  EXPECT_EQ(hw.size.height, 20);
  EXPECT_EQ(hw.size.width, 30);
  EXPECT_FALSE(hw.size.shortest_edge);
  EXPECT_EQ(hw.crop_width, 12);
  for (const json& bad : {json{{"crop_size", {{"height", 10}}}}, json{{"size", {{"foo", 1}}}},
                          json{{"image_std", {1.0, 0.0, 1.0}}}, json{{"image_mean", {1.0, 2.0}}},
                          json{{"resample", 9}}, json{{"do_resize", "yes"}}, json{{"size", -3}}})
    EXPECT_THROW(ClipImageProcessorConfig::parse(bad, "pp.json"), ConfigError) << bad.dump();
}

TEST(ModelIndexConfig, OfficialIndex) {
  auto idx = ModelIndex::load(official() / "model_index.json");
  EXPECT_EQ(idx.class_name, "I2VGenXLPipeline");
  EXPECT_EQ(idx.diffusers_version, "0.26.1");
  EXPECT_EQ(idx.components.size(), 7u);
  EXPECT_EQ(idx.component("vae").class_name, "AutoencoderKL");
  EXPECT_EQ(idx.component("tokenizer").library, "transformers");
  try {
    idx.component("controlnet");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unet"), std::string::npos) << e.what();
  }
  // Flags that are not components are skipped; malformed entries are errors.
  auto flags = ModelIndex::parse(
      {{"_class_name", "P"}, {"requires_safety_checker", true}, {"unet", {"diffusers", "U"}}}, "t");
  EXPECT_EQ(flags.names(), std::vector<std::string>{"unet"});
  EXPECT_THROW(ModelIndex::parse({{"unet", {"diffusers", "U"}}}, "t"), ConfigError);
  EXPECT_THROW(ModelIndex::parse({{"_class_name", "P"}, {"unet", {"diffusers", 3}}}, "t"),
               ConfigError);
  EXPECT_THROW(ModelIndex::parse({{"_class_name", "P"}}, "t"), ConfigError);
}

TEST(JsonConfig, TypedGettersNameFileAndKey) {
  json j = {{"n", 3}, {"f", 2.5}, {"whole", 4.0}, {"s", "x"}, {"v", {1, 2}}, {"z", nullptr}};
  EXPECT_EQ(get_or<int64_t>(j, "n", 0, "c.json"), 3);
  EXPECT_EQ(get_or<int64_t>(j, "whole", 0, "c.json"), 4);  // 4.0 is an integer value
  EXPECT_DOUBLE_EQ(get_or<double>(j, "n", 0, "c.json"), 3.0);
  EXPECT_EQ(get_or<std::string>(j, "missing", "d", "c.json"), "d");
  EXPECT_EQ(get_or<int>(j, "z", 7, "c.json"), 7);
  EXPECT_EQ(get_or<std::vector<int64_t>>(j, "v", {}, "c.json"), (std::vector<int64_t>{1, 2}));
  EXPECT_FALSE(get_optional<double>(j, "z", "c.json"));
  EXPECT_EQ(get_required<std::string>(j, "s", "c.json"), "x");
  for (auto f : std::vector<std::function<void()>>{
           [&] { get_or<int>(j, "f", 0, "c.json"); },
           [&] { get_or<std::string>(j, "n", "", "c.json"); },
           [&] { get_or<bool>(j, "n", false, "c.json"); },
           [&] { get_or<std::vector<std::string>>(j, "v", {}, "c.json"); },
           [&] { get_required<int>(j, "missing", "c.json"); }}) {
    try {
      f();
      FAIL();
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("c.json: "), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(read_json_file("/nonexistent/x.json"), IoError);
}

}  // namespace
}  // namespace i2v::weights
