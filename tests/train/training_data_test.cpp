// The training set reader: videos and frame folders with their captions.
#include <gtest/gtest.h>

#include <fstream>

#include "i2v/error.h"
#include "i2v/train/training_data.h"
#include "i2v/video/video_reader.h"
#include "i2v/video/video_writer.h"
#include "support/test_support.h"

namespace i2v::train {
namespace {

// (F, H, W, 3): a bright square moving right on a gradient.
at::Tensor moving_square(int frames, int h, int w) {
  at::Tensor v = at::zeros({frames, h, w, 3}, at::kByte);
  for (int f = 0; f < frames; ++f) {
    v[f].select(2, 2).fill_(120);
    v[f].narrow(0, h / 4, h / 4).narrow(1, 4 + 4 * f, w / 4).select(2, 0).fill_(230);
  }
  return v;
}

void write_text(const std::filesystem::path& p, const std::string& s) {
  std::ofstream(p) << s;
}

TEST(TrainingData, VideosAndFrameFoldersWithCaptions) {
  test::TempDir dir;
  video::write_video(moving_square(6, 64, 96), dir / "walk.mp4");
  write_text(dir / "walk.txt", "a square walks\n");
  video::write_video(moving_square(5, 48, 48), dir / "frames");  // a folder of PNG frames
  write_text(dir / "frames.txt", "frames of a square");
  const auto clips = find_training_clips(dir.path());
  ASSERT_EQ(clips.size(), 2u);
  EXPECT_EQ(clips[0].path.filename(), "frames");
  EXPECT_EQ(clips[0].caption, "frames of a square");
  EXPECT_EQ(clips[1].caption, "a square walks");

  // The video decodes to its frames (H.264 is lossy: close, not equal).
  const at::Tensor read = video::read_video_frames(dir / "walk.mp4");
  ASSERT_EQ(read.sizes(), (at::IntArrayRef{6, 64, 96, 3}));
  EXPECT_LT(
      (read.to(at::kFloat) - moving_square(6, 64, 96).to(at::kFloat)).abs().mean().item<double>(),
      4.0);
  EXPECT_EQ(video::read_video_frames(dir / "walk.mp4", 2).size(0), 2);

  // Resized and center-cropped to the training size like the pipeline's input image.
  EXPECT_EQ(load_clip_frames(clips[1], 4, 64, 64).sizes(), (at::IntArrayRef{4, 64, 64, 3}));
  EXPECT_EQ(load_clip_frames(clips[0], 5, 32, 32).sizes(), (at::IntArrayRef{5, 32, 32, 3}));
  EXPECT_THROW(load_clip_frames(clips[0], 6, 32, 32), FormatError);  // only 5 frames
}

TEST(TrainingData, ProblemsAreClearErrors) {
  test::TempDir dir;
  EXPECT_THROW(find_training_clips(dir / "missing"), IoError);
  EXPECT_THROW(find_training_clips(dir.path()), ConfigError);  // no clip
  video::write_video(moving_square(3, 32, 32), dir / "a.mp4");
  try {
    find_training_clips(dir.path());
    FAIL() << "a clip without caption";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("a.mp4"), std::string::npos) << e.what();
  }
  write_text(dir / "a.txt", "x");
  write_text(dir / "broken.mp4", "not a video");
  write_text(dir / "broken.txt", "y");
  const auto clips = find_training_clips(dir.path());
  ASSERT_EQ(clips.size(), 2u);
  EXPECT_THROW(load_clip_frames(clips[1], 2, 32, 32), Error);
}

}  // namespace
}  // namespace i2v::train
