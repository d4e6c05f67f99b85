// `i2v generate` end to end through the binary: a real MP4 checked with ffprobe, the replay of
// the reference run from the command line, and clear failures for bad input.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "i2v/io/safetensors.h"
#include "support/test_support.h"

namespace i2v {
namespace {
namespace fs = std::filesystem;

std::string base_command(const test::TempDir& tmp) {
  return "I2V_HOME=" + (tmp / "home").string() + " " + test::i2v_binary().string() +
         " --log-level warn generate --model " + test::golden_pipeline().string() + " --image " +
         (test::golden_dir() / "input_image.png").string() +
         " --prompt 'A red fox' --width 80 --height 48 --frames 4 --steps 2 --fps 12 --seed 7";
}

TEST(GenerateCli, WritesAnH264Mp4WithMetadata) {
  test::TempDir tmp;
  std::string out;
  const fs::path video = tmp / "clip.mp4";
  ASSERT_EQ(test::run_command(base_command(tmp) + " --output " + video.string(), &out), 0) << out;
  ASSERT_TRUE(fs::exists(video));
  ASSERT_EQ(test::run_command("ffprobe -v error -select_streams v:0 -count_frames -show_entries "
                              "stream=codec_name,pix_fmt,width,height,r_frame_rate,nb_read_frames "
                              "-of json " +
                                  video.string(),
                              &out),
            0)
      << out;
  auto probe = nlohmann::json::parse(out).at("streams").at(0);
  EXPECT_EQ(probe.at("codec_name"), "h264");
  EXPECT_EQ(probe.at("pix_fmt"), "yuv420p");
  EXPECT_EQ(probe.at("width"), 80);
  EXPECT_EQ(probe.at("height"), 48);
  EXPECT_EQ(probe.at("r_frame_rate"), "12/1");
  EXPECT_EQ(probe.at("nb_read_frames"), "4");
  std::ifstream meta(video.string() + ".json");
  auto j = nlohmann::json::parse(meta);
  EXPECT_EQ(j.at("params").at("seed"), 7);
  EXPECT_EQ(j.at("params").at("steps"), 2);
  EXPECT_EQ(j.at("output"), video.string());
  EXPECT_EQ(j.at("memory").at("final_plan").at("name"), j.at("memory").at("plan").at("name"));
  EXPECT_TRUE(j.at("stage_seconds").contains("denoise"));
  // A second run never overwrites the first.
  ASSERT_EQ(test::run_command(base_command(tmp) + " --output " + video.string(), &out), 0) << out;
  EXPECT_TRUE(fs::exists(tmp / "clip_1.mp4"));
}

// The output's folder is made (with the memory log beside the video), as the README's demo needs.
TEST(GenerateCli, MakesTheOutputFolder) {
  test::TempDir tmp;
  std::string out;
  const fs::path video = tmp / "new/deeper/clip.mp4";
  ASSERT_EQ(test::run_command(base_command(tmp) + " --output " + video.string(), &out), 0) << out;
  EXPECT_TRUE(fs::exists(video));
  EXPECT_TRUE(fs::exists(video.string() + ".json"));
  EXPECT_TRUE(fs::exists(video.string() + ".memory.jsonl"));
}

TEST(GenerateCli, ReplaysTheReferenceRunFromTheCommandLine) {
  test::TempDir tmp;
  const fs::path run = test::golden_dir() / "golden/pipeline_run.safetensors";
  std::string cmd = "I2V_HOME=" + (tmp / "home").string() + " " + test::i2v_binary().string() +
                    " --log-level warn generate --model " + test::golden_pipeline().string() +
                    " --image " + (test::golden_dir() / "input_image.png").string() +
                    " --prompt 'A red Fox jumping over the frozen lake at sunset, 4k photo!'"
                    " --negative-prompt 'blurry, distorted, low quality' --width 80 --height 48"
                    " --frames 4 --steps 4 --guidance 9 --fps 16 --precision fp32"
                    " --noise " +
                    run.string() + " --dump " + (tmp / "dump.safetensors").string() + " --output " +
                    (tmp / "frames").string();
  std::string out;
  ASSERT_EQ(test::run_command(cmd, &out), 0) << out;
  auto dump = io::load_safetensors(tmp / "dump.safetensors");
  auto ref = io::load_safetensors(run);
  for (const char* name : {"final_latents", "decoded_video"}) {
    double e = (dump.at(name) - ref.at(name)).abs().max().item<double>() /
               ref.at(name).abs().max().item<double>();
    EXPECT_LE(e, 1e-3) << name;
  }
  EXPECT_TRUE(fs::exists(tmp / "frames" / "frame_00003.png"));
}

TEST(GenerateCli, BadInputIsAClearErrorNotACrash) {
  test::TempDir tmp;
  std::string out;
  struct Case {
    std::string args, message;
  } cases[] = {
      {" --output " + (tmp / "a.mp4").string() + " --image /nonexistent.png", "no such file"},
      {" --output " + (tmp / "a.mp4").string() + " --width 81", "multiples of"},
      {" --output " + (tmp / "a.mp4").string() + " --frames 1", "frames must be"},
      {" --output " + (tmp / "a.mp4").string() + " --steps 0", "steps must be"},
      {" --output " + (tmp / "a.avi").string(), "unsupported output"},
      {" --output " + (tmp / "a.mp4").string() + " --precision fp8", "--precision"},
  };
  for (const auto& c : cases) {
    int rc = test::run_command(base_command(tmp) + c.args, &out);
    EXPECT_EQ(rc, 1) << c.args << "\n" << out;
    EXPECT_NE(out.find(c.message), std::string::npos) << c.args << "\n" << out;
  }
  // Corrupt weights.
  fs::create_directories(tmp / "broken");
  for (const auto& e : fs::recursive_directory_iterator(test::golden_pipeline())) {
    fs::path rel = fs::relative(e.path(), test::golden_pipeline());
    if (e.is_directory())
      fs::create_directories(tmp / "broken" / rel);
    else
      fs::copy_file(e.path(), tmp / "broken" / rel);
  }
  fs::resize_file(tmp / "broken/unet/diffusion_pytorch_model.safetensors", 1000);
  std::string cmd = base_command(tmp);
  cmd.replace(cmd.find(test::golden_pipeline().string()), test::golden_pipeline().string().size(),
              (tmp / "broken").string());
  EXPECT_EQ(test::run_command(cmd + " --precision fp32 --output " + (tmp / "b.mp4").string(), &out),
            1)
      << out;
  EXPECT_NE(out.find("diffusion_pytorch_model.safetensors"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(tmp / "b.mp4"));
}

}  // namespace
}  // namespace i2v
