// The golden tiny pipeline under every standard plan gives the plain plan's video; the fallback
// ladder redoes only the failing step; the memory log records steps and stage peaks.
#include <gtest/gtest.h>

#include <fstream>

#include "i2v/image/decode.h"
#include "i2v/io/safetensors.h"
#include "i2v/memory/memory_stats.h"
#include "i2v/memory/planner.h"
#include "i2v/pipeline/i2v_pipeline.h"
#include "support/test_support.h"

namespace i2v::pipeline {
namespace {

struct PlanRun {
  GenerationResult result;
  at::Tensor final_latents;
  int unet_attempts = 0;
};

class PipelinePlans : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    memory::install_counting_allocator();
    pipe_ = new I2VGenXLPipeline(I2VGenXLPipeline::load(test::golden_pipeline().string()));
    auto run = io::SafetensorsFile::open(test::golden_dir() / "golden/pipeline_run.safetensors");
    noise_ = run->tensor("initial_noise").clone();
    posterior_ = run->tensor("vae_posterior_noise").clone();
  }
  static void TearDownTestSuite() { delete pipe_; }

  GenerationRequest request(const memory::ExecPlan& plan) const {
    GenerationRequest r;
    r.image = image::decode_image_file(test::golden_dir() / "input_image.png");
    r.prompt = "A red Fox jumping over the frozen lake at sunset, 4k photo!";
    r.negative_prompt = "blurry, distorted, low quality";
    r.width = 80;
    r.height = 48;
    r.num_frames = 4;
    r.num_inference_steps = 4;
    r.guidance_scale = 9.0;
    r.target_fps = 16;
    r.initial_noise = noise_;
    r.vae_posterior_noise = posterior_;
    r.plan = plan;
    return r;
  }

  PlanRun run(const GenerationRequest& r,
              std::function<void(int, const memory::ExecPlan&)> inject = {},
              memory::MemoryLog* log = nullptr) {
    PlanRun out;
    GenerationHooks hooks;
    hooks.dump = [&](const std::string& name, const at::Tensor& t) {
      if (name == "final_latents") out.final_latents = t.clone();
    };
    hooks.before_unet = [&](int step, const memory::ExecPlan& p) {
      ++out.unet_attempts;
      if (inject) inject(step, p);
    };
    hooks.memory_log = log;
    out.result = pipe_->generate(r, hooks);
    return out;
  }

  static double max_abs(const at::Tensor& a, const at::Tensor& b) {
    return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
  }

  static I2VGenXLPipeline* pipe_;
  static at::Tensor noise_, posterior_;
};
I2VGenXLPipeline* PipelinePlans::pipe_ = nullptr;
at::Tensor PipelinePlans::noise_, PipelinePlans::posterior_;

TEST_F(PipelinePlans, EveryStandardPlanGivesThePlainVideo) {
  PlanRun plain = run(request(memory::named_plan("plain")));
  const double scale = plain.final_latents.abs().max().item<double>();
  for (const auto& plan : memory::standard_plans()) {
    if (plan.name == "plain") continue;
    PlanRun got = run(request(plan));
    EXPECT_LE(max_abs(got.final_latents, plain.final_latents), 1e-4 * scale) << plan.name;
    EXPECT_LE(max_abs(got.result.frames, plain.result.frames), 1) << plan.name;
    EXPECT_EQ(got.result.final_plan.name, plan.name);
    EXPECT_TRUE(got.result.downgrades.empty());
  }
  // Releasing the encoders after use is reversible: a second run needs them again.
  PlanRun again = run(request(memory::named_plan("plain")));
  EXPECT_TRUE(again.result.frames.equal(plain.result.frames));
}

TEST_F(PipelinePlans, FallbackRedoesOnlyTheFailingStep) {
  GenerationRequest r = request(memory::named_plan("plain"));
  r.fallback = {memory::named_plan("chunked+seqcfg"), memory::named_plan("stream")};
  PlanRun got = run(r, [](int step, const memory::ExecPlan& p) {
    if (step == 3 && p.name == "plain") throw memory::BudgetExceededError(1 << 20, 0, 1 << 20);
  });
  EXPECT_EQ(got.unet_attempts, 5);  // 4 steps, step 3 twice
  ASSERT_EQ(got.result.downgrades.size(), 1u);
  EXPECT_EQ(got.result.downgrades[0]["step"], 3);
  EXPECT_EQ(got.result.downgrades[0]["from"], "plain");
  EXPECT_EQ(got.result.downgrades[0]["to"], "chunked+seqcfg");
  EXPECT_EQ(got.result.final_plan.name, "chunked+seqcfg");
  // The video equals what the cheaper plan alone gives (exact modes: within float rounding).
  PlanRun cheaper = run(request(memory::named_plan("chunked+seqcfg")));
  const double scale = cheaper.final_latents.abs().max().item<double>();
  EXPECT_LE(max_abs(got.final_latents, cheaper.final_latents), 1e-4 * scale);
  EXPECT_LE(max_abs(got.result.frames, cheaper.result.frames), 1);
}

TEST_F(PipelinePlans, FallbackOnlyForAllocationFailuresAndUntilTheLadderEnds) {
  GenerationRequest r = request(memory::named_plan("plain"));
  r.fallback = {memory::named_plan("chunked")};
  EXPECT_THROW(run(r, [](int, const memory::ExecPlan&) { throw ConfigError("not memory"); }),
               ConfigError);
  EXPECT_THROW(run(r,
                   [](int, const memory::ExecPlan&) {
                     throw memory::BudgetExceededError(1 << 20, 0, 1 << 20);
                   }),
               memory::BudgetExceededError);
}

TEST_F(PipelinePlans, MemoryLogHasStepsAndStagePeaks) {
  test::TempDir dir;
  const auto path = dir.path() / "run.memory.jsonl";
  memory::MemoryLog log(path.string());
  PlanRun got = run(request(memory::named_plan("plain")), {}, &log);
  std::ifstream in(path);
  std::string line;
  int steps = 0, stage_ends = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["event"] == "step") {
      ++steps;
      EXPECT_GT(j["memory"]["reserved_bytes"].get<int64_t>(), 0);
    }
    if (j["event"] == "stage_end") ++stage_ends;
  }
  EXPECT_EQ(steps, 4);
  EXPECT_EQ(stage_ends, 5);
  for (const char* s : {"text", "image", "vae_encode", "unet", "vae_decode"}) {
    ASSERT_TRUE(got.result.stage_memory.contains(s)) << s;
    EXPECT_GT(got.result.stage_memory[s]["rss_peak_bytes"].get<int64_t>(), 0) << s;
    EXPECT_GT(got.result.stage_memory[s]["counted_peak_bytes"].get<int64_t>(), 0) << s;
  }
}

}  // namespace
}  // namespace i2v::pipeline
