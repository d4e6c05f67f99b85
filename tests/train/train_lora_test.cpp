// `train_lora` end to end on the golden tiny model and a synthetic clip: the loss falls, the
// LoRA it writes changes what `generate --lora` makes, a run stopped and resumed ends exactly
// where an uninterrupted one does, and the CLI runs it.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "i2v/error.h"
#include "i2v/i2v.h"
#include "i2v/io/safetensors.h"
#include "i2v/train/lora_trainer.h"
#include "i2v/video/video_writer.h"
#include "support/test_support.h"

namespace i2v::train {
namespace {
namespace fs = std::filesystem;

class TrainLora : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new test::TempDir;
    at::Tensor v = at::zeros({4, 64, 64, 3}, at::kByte);
    for (int f = 0; f < 4; ++f) {
      v[f].select(2, 2).fill_(120);
      v[f].narrow(0, 20, 16).narrow(1, 8 + 8 * f, 16).select(2, 0).fill_(230);
    }
    video::write_video(v, *data_ / "square");  // a frame folder
    std::ofstream(*data_ / "square.txt") << "a red square moving right";
  }
  static void TearDownTestSuite() { delete data_; }

  TrainLoraOptions options(const fs::path& out, int steps) const {
    TrainLoraOptions o;
    o.model = test::golden_pipeline().string();
    o.data = data_->path();
    o.out = out;
    o.rank = 4;
    o.alpha = 4;
    o.steps = steps;
    o.lr = 2e-3;
    o.precision = "fp32";
    o.frames = 2;
    o.width = o.height = 64;
    o.save_every = 0;
    return o;
  }

  static test::TempDir* data_;
  test::TempDir out_;
};
test::TempDir* TrainLora::data_ = nullptr;

std::map<std::string, at::Tensor> lora_tensors(const fs::path& p) {
  return io::load_safetensors(p);
}

TEST_F(TrainLora, FiftyStepsLowerTheLossAndTheLoraChangesTheVideo) {
  const fs::path out = out_ / "square.safetensors";
  TrainLoraOptions o = options(out, 50);
  o.gradient_checkpointing = true;
  const TrainLoraReport r = train_lora(o);
  std::printf("50 steps: evaluation loss %.5f -> %.5f; training loss first 10 %.4f, last 10 %.4f\n",
              r.eval_loss_before, r.eval_loss_after,
              std::accumulate(r.losses.begin(), r.losses.begin() + 10, 0.0) / 10,
              std::accumulate(r.losses.end() - 10, r.losses.end(), 0.0) / 10);
  EXPECT_EQ(r.steps_done, 50);
  EXPECT_LT(r.eval_loss_after, 0.98 * r.eval_loss_before);
  ASSERT_TRUE(fs::exists(out));
  ASSERT_TRUE(fs::exists(training_state_path(out)));
  std::ifstream lf(training_log_path(out));
  const auto log = nlohmann::json::parse(lf);
  EXPECT_EQ(log["steps"].size(), 50u);
  EXPECT_EQ(log["options"]["gradient_checkpointing"], true);

  // The file loads as a LoRA and changes the video; scale 0 gives the base video back.
  ModelOptions mo;
  mo.model = test::golden_pipeline().string();
  Generator gen = Generator::open(mo);
  Request req;
  req.image = Image::from_file((test::golden_dir() / "input_image.png").string());
  req.prompt = "a red square";
  req.width = req.height = 64;
  req.frames = 2;
  req.steps = 2;
  req.seed = 3;
  const Video base = gen.generate(req).video;
  req.loras.push_back({out.string(), 1.0});
  const Result with = gen.generate(req);
  EXPECT_NE(with.video.rgb, base.rgb);
  EXPECT_NE(with.metadata_json.find("square.safetensors"), std::string::npos);
  req.loras[0].scale = 0;
  EXPECT_EQ(gen.generate(req).video.rgb, base.rgb);
}

TEST_F(TrainLora, AStoppedRunResumesToTheSameAdapters) {
  const fs::path straight = out_ / "straight.safetensors", resumed = out_ / "resumed.safetensors";
  train_lora(options(straight, 4));
  std::atomic<bool> stop{false};
  const TrainLoraReport first = train_lora(
      options(resumed, 4), [&](const TrainStepInfo& s) { stop = s.step == 2; }, &stop);
  EXPECT_TRUE(first.stopped);
  EXPECT_EQ(first.steps_done, 2);
  TrainLoraOptions o = options(resumed, 4);
  o.resume = true;
  const TrainLoraReport second = train_lora(o);
  EXPECT_EQ(second.first_step, 3);
  EXPECT_EQ(second.steps_done, 4);
  const auto a = lora_tensors(straight), b = lora_tensors(resumed);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_TRUE(at::equal(t, b.at(name))) << name;
  std::ifstream lf(training_log_path(resumed));
  EXPECT_EQ(nlohmann::json::parse(lf)["steps"].size(), 4u);
  // A resume with another rank is refused before anything runs.
  o.rank = 8;
  EXPECT_THROW(train_lora(o), ConfigError);
}

TEST_F(TrainLora, BadOptionsAreClearErrors) {
  TrainLoraOptions o = options(out_ / "x.safetensors", 1);
  o.precision = "fp8";
  EXPECT_THROW(train_lora(o), ConfigError);
  o = options(out_ / "x.safetensors", 0);
  EXPECT_THROW(train_lora(o), ConfigError);
  o = options(out_ / "x.safetensors", 1);
  o.width = 63;
  EXPECT_THROW(train_lora(o), ConfigError);
  o = options(out_ / "x.bin", 1);
  EXPECT_THROW(train_lora(o), ConfigError);
  o = options(out_ / "x.safetensors", 1);
  o.resume = true;  // nothing saved
  EXPECT_THROW(train_lora(o), ConfigError);
}

TEST_F(TrainLora, TheCliTrainsAndReportsProblems) {
  const fs::path out = out_ / "cli.safetensors";
  std::string output;
  const std::string base = test::i2v_binary().string() + " train-lora --model " +
                           test::golden_pipeline().string() + " --data " + data_->path().string() +
                           " --out " + out.string() +
                           " --frames 2 --width 64 --height 64 --precision fp32 --rank 2";
  EXPECT_EQ(test::run_command(base + " --steps 2 2>&1", &output), 0) << output;
  EXPECT_TRUE(fs::exists(out));
  EXPECT_NE(output.find("2/2"), std::string::npos) << output;
  EXPECT_NE(test::run_command(base + " --steps 2 --lr -1 2>&1", &output), 0);
  EXPECT_NE(output.find("--lr"), std::string::npos) << output;
}

}  // namespace
}  // namespace i2v::train
