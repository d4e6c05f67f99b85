// The CLI's memory surface: `i2v probe` (JSON, refusal), `generate --memory-budget` (chosen plan,
// refusal before loading), the memory log and the metadata's per-stage peaks.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace i2v {
namespace {

std::string i2v_cmd(const test::TempDir& tmp) {
  return "I2V_HOME=" + (tmp / "home").string() + " " + test::i2v_binary().string() +
         " --log-level warn ";
}

std::string golden_args() {
  return " --model " + test::golden_pipeline().string() + " --image " +
         (test::golden_dir() / "input_image.png").string() +
         " --prompt fox --width 64 --height 48 --frames 4 --steps 2 --seed 3";
}

TEST(MemoryCli, ProbeListsPlansAndChoosesOne) {
  test::TempDir tmp;
  std::string out;
  ASSERT_EQ(test::run_command(
                i2v_cmd(tmp) + "probe --json" + golden_args() + " --memory-budget 4GiB 2>/dev/null",
                &out),
            0)
      << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["candidates"].size(), 4u);
  EXPECT_GT(j["free_bytes"].get<int64_t>(), 0);
  std::string fastest;
  double speed = 0;
  for (const auto& c : j["candidates"]) {
    EXPECT_GT(c["predicted_peak_bytes"].get<int64_t>(), 0);
    if (c["relative_speed"].get<double>() > speed) {
      speed = c["relative_speed"].get<double>();
      fastest = c["plan"]["name"];
    }
  }
  EXPECT_EQ(j["chosen"], fastest);  // everything fits 4 GiB on the tiny model

  ASSERT_EQ(
      test::run_command(i2v_cmd(tmp) + "probe" + golden_args() + " --memory-budget 1MiB", &out), 3)
      << out;
  EXPECT_NE(out.find("no plan fits"), std::string::npos) << out;

  ASSERT_EQ(test::run_command(i2v_cmd(tmp) + "probe --tiers --json" + golden_args(), &out), 0);
  EXPECT_EQ(nlohmann::json::parse(out)["tiers"].size(), 4u);
}

TEST(MemoryCli, GenerateRecordsPlanStagesAndLog) {
  test::TempDir tmp;
  const auto video = tmp / "v.mp4";
  std::string out;
  ASSERT_EQ(test::run_command(i2v_cmd(tmp) + "generate" + golden_args() +
                                  " --plan chunked+seqcfg --output " + video.string(),
                              &out),
            0)
      << out;
  std::ifstream meta_in(video.string() + ".json");
  auto meta = nlohmann::json::parse(meta_in);
  EXPECT_EQ(meta["memory"]["plan"]["name"], "chunked+seqcfg");
  EXPECT_TRUE(meta["memory"]["plan"]["sequential_cfg"].get<bool>());
  for (const char* s : {"text", "image", "vae_encode", "unet", "vae_decode"})
    EXPECT_GT(meta["memory"]["stages"][s]["rss_peak_bytes"].get<int64_t>(), 0) << s;
  std::ifstream log(video.string() + ".memory.jsonl");
  std::string line;
  int steps = 0;
  while (std::getline(log, line))
    if (nlohmann::json::parse(line)["event"] == "step") ++steps;
  EXPECT_EQ(steps, 2);

  // A budget nothing fits is refused before the model loads, naming what would fit.
  ASSERT_NE(test::run_command(i2v_cmd(tmp) + "generate" + golden_args() +
                                  " --memory-budget 1MiB --output " + (tmp / "w.mp4").string(),
                              &out),
            0);
  EXPECT_NE(out.find("--memory-budget 1MiB"), std::string::npos) << out;
}

// One plan policy: probe shows what generate with the same flags runs — the same plan with the
// same predicted peak (same precision, shapes, budget rule).
TEST(MemoryCli, ProbePredictsWhatGenerateRuns) {
  test::TempDir tmp;
  for (const std::string flags : {" --memory-budget 4GiB", " --plan chunked+seqcfg", ""}) {
    std::string out;
    ASSERT_EQ(test::run_command(
                  i2v_cmd(tmp) + "probe --json" + golden_args() + flags + " 2>/dev/null", &out),
              0)
        << out;
    const auto probe = nlohmann::json::parse(out);
    const auto video = tmp / "p.mp4";
    ASSERT_EQ(test::run_command(i2v_cmd(tmp) + "generate" + golden_args() + flags +
                                    " --overwrite --output " + video.string(),
                                &out),
              0)
        << out;
    std::ifstream meta_in(video.string() + ".json");
    const auto meta = nlohmann::json::parse(meta_in);
    EXPECT_EQ(probe["chosen"], meta["memory"]["plan"]["name"]) << flags;
    EXPECT_EQ(probe["predicted_peak_bytes"], meta["memory"]["predicted_peak_bytes"]) << flags;
    EXPECT_EQ(probe["fallback"], meta["memory"]["fallback"]) << flags;
  }
}

TEST(MemoryCli, TiledVaeIsRecordedAsApproximateAndBadTilesAreRefused) {
  test::TempDir tmp;
  const auto video = tmp / "t.mp4";
  std::string out;
  ASSERT_EQ(test::run_command(i2v_cmd(tmp) + "generate" + golden_args() +
                                  " --vae-tile 16 --output " + video.string() + " 2>&1",
                              &out),
            0)
      << out;
  EXPECT_NE(out.find("approximate"), std::string::npos) << out;
  std::ifstream meta(video.string() + ".json");
  auto j = nlohmann::json::parse(meta);
  EXPECT_EQ(j["memory"]["plan"]["vae_tile"], 16);
  EXPECT_EQ(j["memory"]["plan"]["exact"], false);

  EXPECT_NE(test::run_command(i2v_cmd(tmp) + "generate" + golden_args() +
                                  " --vae-tile 7 --output " + (tmp / "bad.mp4").string() + " 2>&1",
                              &out),
            0);
  EXPECT_NE(out.find("--vae-tile"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(tmp / "bad.mp4"));
}

TEST(MemoryCli, CudaDeviceWithoutCudaIsAClearError) {
  test::TempDir tmp;
  std::string out;
  test::run_command(i2v_cmd(tmp) + "--version", &out);
  if (out.find("CUDA available") != std::string::npos) GTEST_SKIP() << "this build has CUDA";
  EXPECT_NE(test::run_command(i2v_cmd(tmp) + "generate" + golden_args() +
                                  " --device cuda --output " + (tmp / "c.mp4").string() + " 2>&1",
                              &out),
            0);
  EXPECT_NE(out.find("CUDA is not available"), std::string::npos) << out;
  EXPECT_NE(test::run_command(i2v_cmd(tmp) + "generate" + golden_args() +
                                  " --device tpu --output " + (tmp / "c.mp4").string() + " 2>&1",
                              &out),
            0);
  EXPECT_NE(out.find("--device"), std::string::npos) << out;
}

}  // namespace
}  // namespace i2v
