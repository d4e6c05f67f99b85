// The public API (i2v/i2v.h) on the golden tiny model: one Generator serves every front end, so
// these tests pin what they all rely on — the request rules, the plan policy that estimate and
// generate share, progress and previews, cancellation, metadata, saving, clear errors.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "i2v/i2v.h"
#include "support/test_support.h"

namespace i2v {
namespace {
namespace fs = std::filesystem;

ModelOptions golden_model() {
  ModelOptions m;
  m.model = test::golden_pipeline().string();
  m.precision = "fp32";
  return m;
}

Request small_request() {
  Request r;
  r.image = Image::from_file((test::golden_dir() / "input_image.png").string());
  r.prompt = "A red fox";
  r.negative_prompt = "blurry";
  r.width = 80;
  r.height = 48;
  r.frames = 4;
  r.steps = 3;
  r.fps = 12;
  r.seed = 11;
  return r;
}

class GeneratorApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { generator_ = new Generator(Generator::open(golden_model())); }
  static void TearDownTestSuite() { delete generator_; }
  static Generator* generator_;
};
Generator* GeneratorApi::generator_ = nullptr;

TEST(RequestRules, ResolutionsSeedsAndLimits) {
  EXPECT_EQ(resolution_pixels("512p"), 512);
  EXPECT_EQ(resolution_pixels("1024p"), 1024);
  EXPECT_EQ(resolution_pixels("300p"), 0);
  EXPECT_EQ(resolution_names().size(), 4u);
  EXPECT_EQ(resolve_seed(42), 42);
  const int64_t drawn = resolve_seed(-1);
  EXPECT_GE(drawn, 0);
  EXPECT_LE(drawn, 0x7fffffff);

  Request r;
  EXPECT_NO_THROW(check_limits(r, Limits{}));
  r.frames = 1;
  try {
    check_limits(r, Limits{});
    FAIL() << "frames 1 accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("frames must be between 2 and 256 (got 1)"),
              std::string::npos)
        << e.what();
  }
  r.frames = 16;
  r.guidance = std::nan("");
  EXPECT_THROW(check_limits(r, Limits{}), ConfigError);
  Limits narrow;
  narrow.max_steps = 10;
  r.guidance = 9;
  EXPECT_THROW(check_limits(r, narrow), ConfigError);  // 50 steps
}

TEST(OpenErrors, NameTheProblem) {
  ModelOptions m = golden_model();
  m.precision = "fp16";  // CPU
  try {
    Generator::open(m);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("fp16 needs --device cuda"), std::string::npos);
  }
  m = golden_model();
  m.device = "tpu";
  EXPECT_THROW(Generator::open(m), ConfigError);
  m = golden_model();
  m.model = "/nonexistent/model";
  EXPECT_THROW(Generator::open(m), Error);
  m = golden_model();
  m.enforce_budget = true;  // without a budget
  EXPECT_THROW(Generator::open(m), ConfigError);
  EXPECT_THROW(Image::from_file("/nonexistent.png"), Error);
  const std::string junk = "not an image";
  EXPECT_THROW(Image::from_bytes(junk.data(), junk.size(), "junk"), Error);
}

TEST_F(GeneratorApi, GeneratesWithProgressPreviewsAndMetadata) {
  Request r = small_request();
  std::vector<Progress> steps;
  std::vector<int> previews;
  Callbacks cb;
  cb.on_step = [&](const Progress& p) { steps.push_back(p); };
  cb.preview_every = 2;
  cb.on_preview = [&](int step, const Image& img) {
    previews.push_back(step);
    EXPECT_GT(img.width, 0);
    EXPECT_EQ(img.rgb.size(), static_cast<size_t>(img.width) * img.height * 3);
  };
  const Result res = generator_->generate(r, cb);
  EXPECT_EQ(res.video.frames, 4);
  EXPECT_EQ(res.video.width, 80);
  EXPECT_EQ(res.video.height, 48);
  EXPECT_EQ(res.video.rgb.size(), 4u * 48 * 80 * 3);
  EXPECT_EQ(res.seed, 11);
  EXPECT_TRUE(res.exact);
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps.back().step, 3);
  EXPECT_EQ(steps.back().total, 3);
  EXPECT_GT(steps.back().seconds_per_step, 0);
  EXPECT_GT(steps.back().memory_bytes, 0);
  EXPECT_EQ(previews, (std::vector<int>{2, 3}));
  const auto meta = nlohmann::json::parse(res.metadata_json);
  EXPECT_EQ(meta.at("params").at("seed"), 11);
  EXPECT_EQ(meta.at("params").at("frames"), 4);
  EXPECT_EQ(meta.at("precision"), "fp32");
  EXPECT_EQ(meta.at("memory").at("plan").at("name"), res.plan);
  for (const char* s : {"text", "image", "vae_encode", "unet", "vae_decode"})
    EXPECT_TRUE(meta.at("memory").at("stages").contains(s)) << s;

  // Same request, same seed: the same video (nothing carried over between runs).
  const Result again = generator_->generate(r);
  EXPECT_EQ(again.video.rgb, res.video.rgb);
  // The frame accessor.
  const Image f3 = res.video.frame(3);
  EXPECT_TRUE(std::equal(f3.rgb.begin(), f3.rgb.end(), res.video.rgb.begin() + 3 * 48 * 80 * 3));
  EXPECT_THROW(res.video.frame(4), ConfigError);
}

TEST_F(GeneratorApi, EstimateIsThePlanGenerateRuns) {
  Request r = small_request();
  r.steps = 1;
  for (const char* plan : {"auto", "chunked+seqcfg", "stream"}) {
    r.plan = plan;
    const Estimate e = generator_->estimate(r);
    EXPECT_TRUE(e.fits);
    EXPECT_GT(e.predicted_peak_bytes, 0);
    // Without loading, from the configs alone (what `i2v probe` shows): the same decision.
    const Estimate cold = estimate(golden_model(), r);
    EXPECT_EQ(cold.plan, e.plan) << plan;
    EXPECT_EQ(cold.predicted_peak_bytes, e.predicted_peak_bytes) << plan;
    const Result res = generator_->generate(r);
    EXPECT_EQ(res.plan, e.plan) << plan;
    const auto j = nlohmann::json::parse(e.json);
    EXPECT_EQ(j.at("candidates").size(), 4u);
  }
  // A budget nothing fits: refused before any work, naming settings that would fit.
  ModelOptions m = golden_model();
  m.memory_budget_bytes = 1 << 20;
  r.plan = "auto";
  const Estimate e = estimate(m, r);
  EXPECT_FALSE(e.fits);
  EXPECT_NE(e.message.find("no plan fits"), std::string::npos) << e.message;
}

TEST_F(GeneratorApi, CancelStopsAtTheNextStep) {
  Request r = small_request();
  r.steps = 50;
  int seen = 0;
  Callbacks cb;
  cb.on_step = [&](const Progress&) {
    if (++seen == 2) generator_->cancel();
  };
  EXPECT_THROW(generator_->generate(r, cb), CancelledError);
  EXPECT_EQ(seen, 2);
  // The next generation is not cancelled by the last one's request.
  r.steps = 1;
  EXPECT_NO_THROW(generator_->generate(r));
  // The callback way.
  cb = {};
  cb.cancelled = [] { return true; };
  EXPECT_THROW(generator_->generate(r, cb), CancelledError);
}

TEST_F(GeneratorApi, BadRequestsAreConfigErrors) {
  Request r = small_request();
  r.width = 81;
  EXPECT_THROW(generator_->generate(r), ConfigError);
  r = small_request();
  r.image.rgb.resize(10);  // does not hold width x height x 3
  EXPECT_THROW(generator_->validate(r), ConfigError);
  r = small_request();
  r.plan = "fastest";
  EXPECT_THROW(generator_->estimate(r), ConfigError);
  r = small_request();
  r.overrides.vae_tile = 7;
  EXPECT_THROW(generator_->validate(r), ConfigError);
}

TEST_F(GeneratorApi, SaveVideoWritesVideoAndMetadataWithoutOverwriting) {
  test::TempDir tmp;
  Request r = small_request();
  r.steps = 1;
  const Result res = generator_->generate(r);
  const std::string first = save_video(res, (tmp / "out/fox.mp4").string());
  EXPECT_EQ(first, (tmp / "out/fox.mp4").string());
  EXPECT_TRUE(fs::exists(first));
  std::ifstream in(first + ".json");
  const auto meta = nlohmann::json::parse(in);
  EXPECT_EQ(meta.at("output"), first);
  EXPECT_EQ(meta.at("format"), "mp4");
  EXPECT_EQ(meta.at("params").at("seed"), res.seed);
  const std::string second = save_video(res, (tmp / "out/fox.mp4").string());
  EXPECT_EQ(second, (tmp / "out/fox_1.mp4").string());
  SaveOptions over;
  over.overwrite = true;
  EXPECT_EQ(save_video(res, first, over), first);
  // PNG frames into a folder; names under outputs/ by time, never taken twice.
  const std::string frames = save_video(res, (tmp / "frames").string());
  EXPECT_TRUE(fs::exists(fs::path(frames) / "frame_00003.png"));
  const std::string a = new_output_path((tmp / "o").string());
  fs::create_directories(tmp / "o");
  std::ofstream(a + ".json") << "{}";  // a companion alone takes the name
  EXPECT_NE(new_output_path((tmp / "o").string()), a);
  EXPECT_THROW(save_video(res, (tmp / "x.avi").string()), ConfigError);
}

TEST_F(GeneratorApi, StreamingSaveWritesTheFramesOfANormalSave) {
  test::TempDir tmp;
  Request r = small_request();
  r.steps = 1;
  r.decode_chunk_size = 3;  // chunks of 3 and 1
  const Result normal = generator_->generate(r);
  VideoFileWriter writer((tmp / "s").string(), r.fps);  // a folder of PNG frames: lossless
  std::vector<int> firsts;
  Callbacks cb;
  cb.keep_frames = false;
  cb.on_frames = [&](int first, const Video& frames) {
    firsts.push_back(first);
    writer.append(frames);
    EXPECT_FALSE(fs::exists(writer.path()));  // appears only when complete
  };
  const Result streamed = generator_->generate(r, cb);
  EXPECT_EQ(streamed.video.frames, 0);  // nothing kept
  EXPECT_EQ(firsts, (std::vector<int>{0, 3}));
  EXPECT_EQ(writer.frames_written(), 4);
  const std::string path = writer.finish(streamed);
  const std::string reference = save_video(normal, (tmp / "n").string());
  for (int i = 0; i < 4; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "/frame_%05d.png", i);
    std::ifstream a(path + name, std::ios::binary), b(reference + name, std::ios::binary);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(a), {}),
              std::string(std::istreambuf_iterator<char>(b), {}))
        << name;
  }
  std::ifstream in(path + ".json");
  EXPECT_EQ(nlohmann::json::parse(in).at("params").at("seed"), streamed.seed);
}

TEST_F(GeneratorApi, LongVideosRunInWindowsAndSaySo) {
  Request r = small_request();
  r.width = 32;
  r.height = 32;
  r.steps = 1;
  r.frames = 20;  // beyond 16: windows of 16 by default
  const Result auto_windows = generator_->generate(r);
  EXPECT_FALSE(auto_windows.exact);
  EXPECT_EQ(auto_windows.video.frames, 20);
  auto meta = nlohmann::json::parse(auto_windows.metadata_json);
  EXPECT_EQ(meta.at("exact"), false);
  EXPECT_EQ(meta.at("windows").at("length"), 16);
  EXPECT_EQ(meta.at("windows").at("count"), 2);  // (0, 16), (4, 20)
  EXPECT_EQ(meta.at("windows").at("mode"), "approximate (windows)");
  r.window = 0;  // off: every frame at once, exact
  const Result plain = generator_->generate(r);
  EXPECT_TRUE(plain.exact);
  EXPECT_TRUE(nlohmann::json::parse(plain.metadata_json).at("windows").is_null());
  // The estimate counts one window's activations: 64 frames in windows of 16 cost about what
  // 16 frames do, far less than 64 frames at once.
  r.window = -1;
  r.frames = 16;
  const int64_t sixteen = generator_->estimate(r).predicted_peak_bytes;
  r.frames = 64;
  const int64_t windowed = generator_->estimate(r).predicted_peak_bytes;
  r.window = 0;
  const int64_t whole = generator_->estimate(r).predicted_peak_bytes;
  std::printf(
      "[ windows ] predicted peak: 16 frames %.1f MiB, 64 in windows %.1f MiB, 64 at once "
      "%.1f MiB\n",
      sixteen / 1048576.0, windowed / 1048576.0, whole / 1048576.0);
  EXPECT_LT(windowed, whole);
  EXPECT_LT(windowed - sixteen, (whole - sixteen) / 4);
  r.window = 1;
  EXPECT_THROW(generator_->validate(r), ConfigError);
  r.window = 16;
  r.window_stride = 17;
  EXPECT_THROW(generator_->validate(r), ConfigError);
  r.window_stride = 4;
  r.window_fuse = "gaussian";
  EXPECT_THROW(generator_->validate(r), ConfigError);
}

TEST(ErrorMessage, ExplainsAllocationAndLibraryFailures) {
  EXPECT_NE(error_message(std::bad_alloc()).find("out of memory"), std::string::npos);
  EXPECT_EQ(error_message(ConfigError("frames must be between 2 and 256")),
            "frames must be between 2 and 256");
  EXPECT_NE(error_message(std::runtime_error("boom")).find("boom"), std::string::npos);
}

}  // namespace
}  // namespace i2v
