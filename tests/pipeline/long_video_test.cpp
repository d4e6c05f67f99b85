// Long videos (frame windows) and streaming output on the golden tiny model: one window of the
// whole video is the plain run bit for bit; several windows give a different (approximate) video
// whose temporal consistency is printed; the shuffled noise is FreeNoise's; the frames streamed
// chunk by chunk are the frames of a normal run, and none are kept when asked.
#include <gtest/gtest.h>

#include "i2v/image/decode.h"
#include "i2v/pipeline/i2v_pipeline.h"
#include "support/test_support.h"

namespace i2v::pipeline {
namespace {

GenerationRequest small_request(int frames) {
  GenerationRequest r;
  r.image = image::decode_image_file(test::golden_dir() / "input_image.png");
  r.prompt = "a red fox running through the snow";
  r.negative_prompt = "blurry";
  r.width = 32;
  r.height = 32;
  r.num_frames = frames;
  r.num_inference_steps = 3;
  r.guidance_scale = 7.5;
  r.seed = 11;
  return r;
}

// Mean cosine similarity of consecutive frames (uint8 (F, H, W, 3) as float vectors, centred).
double temporal_consistency(const at::Tensor& frames) {
  const at::Tensor x = frames.to(at::kDouble).reshape({frames.size(0), -1});
  const at::Tensor c = x - x.mean(1, true);
  const at::Tensor a = c.slice(0, 0, -1), b = c.slice(0, 1);
  return ((a * b).sum(1) / (a.norm(2, 1) * b.norm(2, 1) + 1e-12)).mean().item<double>();
}

class LongVideo : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pipe_ = I2VGenXLPipeline::load(test::golden_pipeline().string()); }
  static void TearDownTestSuite() { pipe_.reset(); }
  static std::unique_ptr<I2VGenXLPipeline> pipe_;
};
std::unique_ptr<I2VGenXLPipeline> LongVideo::pipe_;

TEST_F(LongVideo, OneWindowOfTheWholeVideoIsThePlainRunBitForBit) {
  GenerationRequest plain = small_request(6);
  GenerationRequest windowed = plain;
  windowed.windows = {6, 2, WindowFuse::Pyramid, true};  // L = N: one window (no shuffle either)
  const GenerationResult a = pipe_->generate(plain);
  const GenerationResult b = pipe_->generate(windowed);
  EXPECT_TRUE(a.frames.equal(b.frames));
  EXPECT_TRUE(b.exact);
}

TEST_F(LongVideo, SeveralWindowsAreApproximateAndTheirConsistencyIsMeasured) {
  GenerationRequest plain = small_request(13);
  GenerationRequest windowed = plain;
  windowed.windows = {6, 2, WindowFuse::Pyramid, false};  // windows 0,2,4,6 and the tail 7..13
  std::vector<std::string> unet_attempts;
  GenerationHooks hooks;
  hooks.before_attempt = [&](const std::string& stage, int step, const memory::ExecPlan&) {
    if (stage == "unet") unet_attempts.push_back(std::to_string(step));
  };
  const GenerationResult a = pipe_->generate(plain);
  const GenerationResult b = pipe_->generate(windowed, hooks);
  ASSERT_EQ(b.frames.sizes(), a.frames.sizes());
  EXPECT_TRUE(a.exact);
  EXPECT_FALSE(b.exact);
  EXPECT_FALSE(a.frames.equal(b.frames));
  EXPECT_EQ(unet_attempts.size(), 3u * 5u);  // 3 steps x 5 windows, each guarded on its own
  GenerationRequest flat = windowed;
  flat.windows.fuse = WindowFuse::Flat;
  GenerationRequest shuffled = windowed;
  shuffled.windows.shuffle_noise = true;
  const GenerationResult c = pipe_->generate(flat);
  const GenerationResult d = pipe_->generate(shuffled);
  const double tp = temporal_consistency(a.frames), tw = temporal_consistency(b.frames),
               tf = temporal_consistency(c.frames), ts = temporal_consistency(d.frames);
  std::printf(
      "[ windows ] tiny model, 13 frames 32x32, 3 steps: mean cosine similarity of consecutive "
      "frames: plain %.4f, windows 6/2 pyramid %.4f, flat %.4f, pyramid + shuffled noise %.4f\n",
      tp, tw, tf, ts);
  for (double t : {tp, tw, tf, ts}) EXPECT_TRUE(std::isfinite(t));
  EXPECT_FALSE(b.frames.equal(c.frames));  // the fusion weights matter
}

TEST_F(LongVideo, ShuffledNoiseIsTheInitialNoiseRescheduled) {
  GenerationRequest r = small_request(10);
  r.num_inference_steps = 1;
  r.windows = {4, 2, WindowFuse::Pyramid, true};
  r.initial_noise = at::randn({1, 4, 10, 16, 16});  // the tiny VAE downsamples 2x
  at::Tensor used;
  GenerationHooks hooks;
  hooks.dump = [&](const std::string& name, const at::Tensor& t) {
    if (name == "initial_noise") used = t.clone();
  };
  pipe_->generate(r, hooks);
  ASSERT_TRUE(used.defined());
  EXPECT_TRUE(used.slice(2, 0, 4).equal(r.initial_noise.slice(2, 0, 4)));
  EXPECT_FALSE(used.equal(r.initial_noise));
  for (int64_t f = 4; f < 10; ++f) {  // each later frame: the noise of a first-window frame
    bool found = false;
    for (int64_t s = 0; s < 4 && !found; ++s)
      found = used.select(2, f).equal(r.initial_noise.select(2, s));
    EXPECT_TRUE(found) << f;
  }
}

TEST_F(LongVideo, StreamedFramesAreTheFramesOfANormalRunInOrder) {
  GenerationRequest r = small_request(5);
  r.decode_chunk_size = 2;  // chunks of 2, 2, 1 frames
  const GenerationResult whole = pipe_->generate(r);
  std::vector<std::pair<int64_t, at::Tensor>> streamed;
  GenerationHooks hooks;
  hooks.keep_frames = false;
  hooks.on_frames = [&](int64_t first, const at::Tensor& frames) {
    streamed.emplace_back(first, frames.clone());
  };
  const GenerationResult out = pipe_->generate(r, hooks);
  EXPECT_FALSE(out.frames.defined());  // nothing held
  ASSERT_EQ(streamed.size(), 3u);
  int64_t next = 0;
  std::vector<at::Tensor> parts;
  for (const auto& [first, frames] : streamed) {
    EXPECT_EQ(first, next);
    EXPECT_EQ(frames.scalar_type(), at::kByte);
    next += frames.size(0);
    parts.push_back(frames);
  }
  EXPECT_EQ(next, 5);
  EXPECT_TRUE(at::cat(parts).equal(whole.frames));
}

}  // namespace
}  // namespace i2v::pipeline
