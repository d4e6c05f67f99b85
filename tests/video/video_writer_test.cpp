// Every output format checked with ffprobe, the PNG frames bit for bit, and the failure paths:
// nothing is ever left under the final name when writing fails.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#include <stb/stb_image.h>

#include "i2v/error.h"
#include "i2v/video/video_reader.h"
#include "i2v/video/video_writer.h"
#include "support/test_support.h"

namespace i2v::video {
namespace {
namespace fs = std::filesystem;

std::string file_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

at::Tensor moving_gradient(int frames, int h, int w) {
  at::Tensor y = at::arange(h).view({1, h, 1, 1}), x = at::arange(w).view({1, 1, w, 1});
  at::Tensor f = at::arange(frames).view({frames, 1, 1, 1});
  at::Tensor c = at::arange(3).view({1, 1, 1, 3});
  return ((x * 3 + y * 2 + f * 5 + c * 40) % 256).to(at::kByte).contiguous();
}

nlohmann::json probe(const fs::path& p) {
  std::string out;
  EXPECT_EQ(test::run_command("ffprobe -v error -select_streams v:0 -count_frames -show_entries "
                              "stream=codec_name,pix_fmt,width,height,r_frame_rate,nb_read_frames "
                              "-of json " +
                                  p.string(),
                              &out),
            0)
      << out;
  return nlohmann::json::parse(out).at("streams").at(0);
}

TEST(VideoWriter, Mp4WebmAndGif) {
  test::TempDir tmp;
  at::Tensor frames = moving_gradient(5, 48, 64);
  struct Case {
    std::string file, codec;
  } cases[] = {{"a.mp4", "h264"}, {"a.webm", "vp9"}, {"a.gif", "gif"}};
  for (const auto& c : cases) {
    VideoWriteOptions o;
    o.fps = 10;
    write_video(frames, tmp / c.file, o);
    auto s = probe(tmp / c.file);
    EXPECT_EQ(s.at("codec_name"), c.codec) << c.file;
    EXPECT_EQ(s.at("width"), 64) << c.file;
    EXPECT_EQ(s.at("height"), 48) << c.file;
    EXPECT_EQ(s.at("nb_read_frames"), "5") << c.file;
    if (c.codec != "gif") {
      EXPECT_EQ(s.at("pix_fmt"), "yuv420p") << c.file;
      EXPECT_EQ(s.at("r_frame_rate"), "10/1") << c.file;
    }
  }
}

TEST(VideoWriter, PngFramesAreExact) {
  test::TempDir tmp;
  at::Tensor frames = moving_gradient(3, 10, 12);
  write_video(frames, tmp / "frames");
  for (int i = 0; i < 3; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "frame_%05d.png", i);
    int w = 0, h = 0, c = 0;
    unsigned char* px = stbi_load((tmp / "frames" / name).c_str(), &w, &h, &c, 3);
    ASSERT_NE(px, nullptr) << name;
    EXPECT_EQ(std::memcmp(px, frames[i].data_ptr<uint8_t>(), 10 * 12 * 3), 0) << name;
    stbi_image_free(px);
  }
}

TEST(VideoWriter, NeverOverwritesAndFailsCleanly) {
  test::TempDir tmp;
  at::Tensor frames = moving_gradient(2, 16, 16);
  write_video(frames, tmp / "v.mp4");
  EXPECT_THROW(write_video(frames, tmp / "v.mp4"), IoError);
  EXPECT_EQ(unique_output_path(tmp / "v.mp4"), tmp / "v_1.mp4");
  VideoWriteOptions over;
  over.overwrite = true;
  EXPECT_NO_THROW(write_video(frames, tmp / "v.mp4", over));

  EXPECT_THROW(write_video(frames, tmp / "missing_dir/v.mp4"), IoError);
  EXPECT_THROW(format_from_path(tmp / "v.avi"), ConfigError);
  EXPECT_THROW(write_video(frames.to(at::kFloat), tmp / "f.mp4"), ShapeError);
  VideoWriteOptions bad;
  bad.fps = 0;
  EXPECT_THROW(write_video(frames, tmp / "g.mp4", bad), ConfigError);
  for (const auto& e : fs::directory_iterator(tmp.path())) {
    EXPECT_EQ(e.path().string().find(".partial"), std::string::npos) << e.path();
  }
}

TEST(VideoStreamWriter, FramesAppendedInChunksMakeOneVideoThatAppearsAtFinish) {
  test::TempDir tmp;
  const at::Tensor frames = moving_gradient(7, 32, 48);
  for (const char* name : {"s.mp4", "s.webm", "s.gif", "frames"}) {
    VideoWriteOptions o;
    o.fps = 12;
    VideoStreamWriter writer(tmp / name, o);
    writer.append(frames.slice(0, 0, 3));
    writer.append(frames.slice(0, 3, 4));
    EXPECT_FALSE(fs::exists(tmp / name)) << name << " exists before it is complete";
    writer.append(frames.slice(0, 4, 7));
    EXPECT_EQ(writer.frames_written(), 7);
    EXPECT_THROW(writer.append(moving_gradient(1, 16, 48)), ShapeError);
    writer.finish();
    ASSERT_TRUE(fs::exists(tmp / name)) << name;
    if (std::string(name) == "frames") {
      EXPECT_TRUE(fs::exists(tmp / name / "frame_00006.png"));
      EXPECT_FALSE(fs::exists(tmp / name / "frame_00007.png"));
    } else {
      EXPECT_EQ(read_video_frames(tmp / name).size(0), 7) << name;
    }
  }
  // Identical frames to write_video's (one call) for the lossless PNG folder.
  write_video(frames, tmp / "whole");
  for (int i = 0; i < 7; ++i) {
    char f[32];
    std::snprintf(f, sizeof f, "frame_%05d.png", i);
    EXPECT_EQ(file_bytes(tmp / "whole" / f), file_bytes(tmp / "frames" / f)) << f;
  }
}

TEST(VideoStreamWriter, AWriterNeverFinishedLeavesNothing) {
  test::TempDir tmp;
  {
    VideoStreamWriter writer(tmp / "cut.mp4");
    writer.append(moving_gradient(3, 16, 16));
  }  // an error or a cancel between frames: the writer goes away unfinished
  {
    VideoStreamWriter writer(tmp / "cutframes");
    writer.append(moving_gradient(2, 16, 16));
  }
  {
    VideoStreamWriter empty(tmp / "empty.mp4");
    EXPECT_THROW(empty.finish(), IoError);
  }
  for (const auto& e : fs::directory_iterator(tmp.path())) ADD_FAILURE() << "left " << e.path();
}

TEST(VideoWriter, DiskFullLeavesNothingUnderTheFinalName) {
  test::TempDir tmp;
  fs::path small = tmp / "small";
  fs::create_directories(small);
  std::string out;
  if (test::run_command("mount -t tmpfs -o size=64k tmpfs " + small.string(), &out) != 0) {
    GTEST_SKIP() << "cannot mount a small tmpfs here: " << out;
  }
  at::Tensor frames = at::randint(0, 256, {30, 256, 256, 3}, at::kByte);  // incompressible
  EXPECT_THROW(write_video(frames, small / "big.mp4"), IoError);
  EXPECT_FALSE(fs::exists(small / "big.mp4"));
  for (const auto& e : fs::directory_iterator(small)) ADD_FAILURE() << "left " << e.path();
  test::run_command("umount " + small.string());
}

}  // namespace
}  // namespace i2v::video
