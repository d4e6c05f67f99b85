// The golden tiny pipeline under every standard plan gives the plain plan's video; the fallback
// ladder redoes only the failing step; the memory log records steps and stage peaks.
#include <gtest/gtest.h>

#include <fstream>

#include "i2v/image/decode.h"
#include "i2v/io/safetensors.h"
#include "i2v/memory/memory_stats.h"
#include "i2v/memory/planner.h"
#include "i2v/nn/chunking.h"
#include "i2v/pipeline/i2v_pipeline.h"
#include "support/golden_run_request.h"
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
    pipe_ = I2VGenXLPipeline::load(test::golden_pipeline().string()).release();
  }
  static void TearDownTestSuite() { delete pipe_; }

  GenerationRequest request(const memory::ExecPlan& plan) const {
    GenerationRequest r = test::golden_run_request();
    r.plan = plan;
    return r;
  }

  // `inject` is called before every guarded attempt (stage, step, plan) and may throw.
  PlanRun run(const GenerationRequest& r,
              std::function<void(const std::string&, int, const memory::ExecPlan&)> inject = {},
              memory::MemoryLog* log = nullptr) {
    PlanRun out;
    GenerationHooks hooks;
    hooks.dump = [&](const std::string& name, const at::Tensor& t) {
      if (name == "final_latents") out.final_latents = t.clone();
    };
    hooks.before_attempt = [&](const std::string& stage, int step, const memory::ExecPlan& p) {
      if (stage == "unet") ++out.unet_attempts;
      if (inject) inject(stage, step, p);
    };
    hooks.memory_log = log;
    out.result = pipe_->generate(r, hooks);
    return out;
  }

  static double max_abs(const at::Tensor& a, const at::Tensor& b) {
    return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
  }

  static I2VGenXLPipeline* pipe_;
};
I2VGenXLPipeline* PipelinePlans::pipe_ = nullptr;

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
  PlanRun got = run(r, [](const std::string& stage, int step, const memory::ExecPlan& p) {
    if (stage == "unet" && step == 3 && p.name == "plain")
      throw memory::BudgetExceededError(1 << 20, 0, 1 << 20);
  });
  EXPECT_EQ(got.unet_attempts, 5);  // 4 steps, step 3 twice
  ASSERT_EQ(got.result.downgrades.size(), 1u);
  EXPECT_EQ(got.result.downgrades[0].stage, "unet");
  EXPECT_EQ(got.result.downgrades[0].step, 3);
  EXPECT_EQ(got.result.downgrades[0].from, "plain");
  EXPECT_EQ(got.result.downgrades[0].to, "chunked+seqcfg");
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
  auto fail_unet_with = [](auto error) {
    return [error](const std::string& stage, int, const memory::ExecPlan&) {
      if (stage == "unet") throw error;
    };
  };
  EXPECT_THROW(run(r, fail_unet_with(ConfigError("not memory"))), ConfigError);
  EXPECT_THROW(run(r, fail_unet_with(memory::BudgetExceededError(1 << 20, 0, 1 << 20))),
               memory::BudgetExceededError);
}

// An allocation failure in VAE decode loses nothing: the denoised latents are kept and the
// failing chunk is decoded again one frame at a time (exact), then in tiles (approximate).
TEST_F(PipelinePlans, VaeDecodeFallsBackToSmallerChunksThenTiles) {
  GenerationRequest r = request(memory::named_plan("plain"));
  r.decode_chunk_size = 4;
  PlanRun plain = run(r);
  ASSERT_TRUE(plain.result.exact);
  int decode_attempts = 0;
  PlanRun chunked = run(r, [&](const std::string& stage, int step, const memory::ExecPlan&) {
    if (stage != "vae_decode") return;
    ++decode_attempts;
    if (decode_attempts == 1) throw memory::BudgetExceededError(1 << 20, 0, 1 << 20);
  });
  EXPECT_EQ(chunked.unet_attempts, 4);  // no denoising step redone
  EXPECT_EQ(decode_attempts, 5);        // the chunk of 4 failed, then 4 frames one by one
  ASSERT_EQ(chunked.result.downgrades.size(), 1u);
  EXPECT_EQ(chunked.result.downgrades[0].stage, "vae_decode");
  EXPECT_EQ(chunked.result.downgrades[0].from, "decode chunk 4");
  EXPECT_EQ(chunked.result.downgrades[0].to, "decode chunk 1");
  EXPECT_TRUE(chunked.result.exact);
  // Exact: the VAE is per image; batching frames only changes float rounding.
  EXPECT_TRUE(chunked.final_latents.equal(plain.final_latents));
  EXPECT_LE(max_abs(chunked.result.frames, plain.result.frames), 1);

  // Single frames failing too: frame 1 onward in tiles, marked approximate; frames decoded
  // before the failure are kept as they were.
  int single = 0;
  PlanRun tiled = run(r, [&](const std::string& stage, int step, const memory::ExecPlan&) {
    if (stage != "vae_decode") return;
    ++single;
    if (single <= 2) throw memory::BudgetExceededError(1 << 20, 0, 1 << 20);
  });
  ASSERT_EQ(tiled.result.downgrades.size(), 2u);
  EXPECT_EQ(tiled.result.downgrades[1].from, "decode chunk 1");
  EXPECT_NE(tiled.result.downgrades[1].to.find("tiles of"), std::string::npos);
  EXPECT_FALSE(tiled.result.exact);
  EXPECT_EQ(tiled.result.frames.sizes(), plain.result.frames.sizes());
  // Approximate, but the same picture: within a few levels on average (0.8 measured).
  const double mean_diff = (tiled.result.frames.to(at::kFloat) - plain.result.frames.to(at::kFloat))
                               .abs()
                               .mean()
                               .item<double>();
  std::printf("[ tiles ] decode fallback to tiles: mean |frame difference| %.2f levels\n",
              mean_diff);
  EXPECT_LT(mean_diff, 8.0);

  // Nothing left to try: the allocation failure reaches the caller.
  EXPECT_THROW(run(r,
                   [](const std::string& stage, int, const memory::ExecPlan&) {
                     if (stage == "vae_decode")
                       throw memory::BudgetExceededError(1 << 20, 0, 1 << 20);
                   }),
               memory::BudgetExceededError);
}

// The encoders run under the ladder too: an allocation failure there moves to the next plan
// and the run ends with the video of that plan.
TEST_F(PipelinePlans, EncoderOutOfMemoryMovesDownTheLadder) {
  GenerationRequest r = request(memory::named_plan("plain"));
  r.fallback = {memory::named_plan("chunked+seqcfg")};
  PlanRun got = run(r, [](const std::string& stage, int, const memory::ExecPlan& p) {
    if (stage == "text" && p.name == "plain") throw std::bad_alloc();
  });
  ASSERT_EQ(got.result.downgrades.size(), 1u);
  EXPECT_EQ(got.result.downgrades[0].stage, "text");
  EXPECT_EQ(got.result.final_plan.name, "chunked+seqcfg");
  PlanRun cheaper = run(request(memory::named_plan("chunked+seqcfg")));
  const double scale = cheaper.final_latents.abs().max().item<double>();
  EXPECT_LE(max_abs(got.final_latents, cheaper.final_latents), 1e-4 * scale);
}

// No process-wide state carries from one generation to the next: a plan with its own attention
// chunking, then the plain plan, gives the plain result and leaves the library default.
TEST_F(PipelinePlans, NoPlanStateLeaksIntoTheNextGeneration) {
  const int64_t default_budget = nn::attention_score_budget();
  PlanRun plain = run(request(memory::named_plan("plain")));
  memory::ExecPlan tight = memory::named_plan("chunked");
  tight.attention_score_budget = 64;  // a few query rows per block
  int64_t seen_during = 0;
  GenerationRequest r = request(tight);
  run(r, [&](const std::string& stage, int, const memory::ExecPlan&) {
    if (stage == "unet") seen_during = nn::attention_score_budget();
  });
  EXPECT_EQ(nn::attention_score_budget(), default_budget);
  EXPECT_NE(seen_during, 64);  // set for the forward pass only, not before it
  PlanRun again = run(request(memory::named_plan("plain")));
  EXPECT_TRUE(again.final_latents.equal(plain.final_latents));
  EXPECT_TRUE(again.result.frames.equal(plain.result.frames));
  EXPECT_EQ(memory::cpu_budget(), 0);
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
