// The estimator against measurement on small models: the UNet stage's counted activation peak
// (counting allocator, weights mapped so not counted) over a grid of sizes, frames and plans must
// be within +-15 % of the prediction; the planner picks the fastest plan that fits and refuses
// with settings that would fit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "i2v/image/decode.h"
#include "i2v/memory/memory_stats.h"
#include "i2v/memory/planner.h"
#include "i2v/pipeline/i2v_pipeline.h"
#include "i2v/pipeline/model_facts.h"
#include "support/test_support.h"

namespace i2v::memory {
namespace {

// The official architecture's shapes (ModelFacts' defaults) with its bf16 weight sizes.
ModelFacts official_facts() {
  ModelFacts m;
  m.text_bytes = int64_t{700} << 20;
  m.image_bytes = int64_t{1260} << 20;
  m.vae_bytes = int64_t{170} << 20;
  m.unet_bytes = int64_t{2840} << 20;
  m.unet_block_bytes = int64_t{600} << 20;
  m.unet_rest_bytes = int64_t{60} << 20;
  return m;
}

TEST(Estimator, UNetActivationsWithin15PercentOnTheGoldenModel) {
  install_counting_allocator();
  auto pipe = pipeline::I2VGenXLPipeline::load(test::golden_pipeline().string());
  ModelFacts facts = pipeline::model_facts(pipe->model_dir(), at::kFloat);
  struct Case {
    int w, h, f;
    const char* plan;
  };
  int checked = 0;
  // (The tiny VAE downsamples by 2 only: 128x128 pixels are 64x64 latents.)
  for (const Case& k :
       {Case{64, 64, 4, "plain"}, Case{96, 64, 8, "plain"}, Case{128, 64, 4, "plain"},
        Case{64, 64, 8, "chunked"}, Case{96, 96, 6, "chunked+seqcfg"}, Case{128, 128, 4, "stream"},
        Case{64, 64, 16, "plain"}}) {
    pipeline::GenerationRequest r;
    r.image = image::decode_image_file(test::golden_dir() / "input_image.png");
    r.prompt = "a fox";
    r.width = k.w;
    r.height = k.h;
    r.num_frames = k.f;
    r.num_inference_steps = 1;
    r.plan = named_plan(k.plan);
    MemoryLog log;
    pipeline::GenerationHooks hooks;
    hooks.memory_log = &log;
    pipe->generate(r, hooks);
    const auto& unet = log.stages().at("unet");
    const int64_t measured = unet.counted_peak - unet.counted_begin;
    Shapes s;
    s.width = k.w;
    s.height = k.h;
    s.frames = k.f;
    s.element_bytes = 4;
    const int64_t predicted = estimate(facts, s, r.plan).unet_activations;
    const double err = static_cast<double>(predicted - measured) / static_cast<double>(measured);
    std::printf("  %dx%d x%d %-15s predicted %s measured %s (%+.1f %%)\n", k.w, k.h, k.f, k.plan,
                format_bytes(predicted).c_str(), format_bytes(measured).c_str(), 100 * err);
    EXPECT_LE(std::abs(err), 0.15) << k.w << "x" << k.h << "x" << k.f << " " << k.plan;
    ++checked;
  }
  EXPECT_EQ(checked, 7);
}

TEST(Planner, FastestPlanThatFitsOrRefusalWithSettings) {
  const ModelFacts m = official_facts();
  Shapes s;
  s.width = s.height = 512;
  s.frames = 16;
  auto c = candidates(m, s);
  ASSERT_EQ(c.size(), 5u);  // bf16 on a CPU: packed, plain, chunked, chunked+seqcfg, stream
  EXPECT_EQ(c[0].plan.name, "packed");
  EXPECT_EQ(c[0].plan.residency, Residency::Packed);
  size_t fastest = 0;
  for (size_t i = 1; i < c.size(); ++i) {
    EXPECT_LT(c[i].estimate.peak, c[i - 1].estimate.peak) << c[i].plan.name;
    if (c[i].relative_speed > c[fastest].relative_speed) fastest = i;
  }
  PlanChoice unlimited = plan_for(m, s, 0);
  ASSERT_TRUE(unlimited.fits);
  EXPECT_EQ(unlimited.plan.name, c[fastest].plan.name);
  EXPECT_EQ(unlimited.fallback.size(), c.size() - fastest - 1);
  EXPECT_EQ(unlimited.plan.name, "packed");
  // A budget only the two cheapest fit picks the faster of those, the rest as its ladder.
  PlanChoice mid = plan_for(m, s, (c[2].estimate.peak + c[3].estimate.peak) / 2);
  ASSERT_TRUE(mid.fits);
  const size_t want = c[4].relative_speed > c[3].relative_speed ? 4 : 3;
  EXPECT_EQ(mid.plan.name, c[want].plan.name);
  EXPECT_EQ(mid.fallback.size(), c.size() - want - 1);

  PlanChoice none = plan_for(m, s, int64_t{1} << 30);
  EXPECT_FALSE(none.fits);
  EXPECT_NE(none.message.find("no plan fits"), std::string::npos) << none.message;

  Shapes big = s;
  big.width = big.height = 1024;
  big.frames = 32;
  PlanChoice smaller = plan_for(m, big, c[4].estimate.peak);
  EXPECT_FALSE(smaller.fits);
  EXPECT_NE(smaller.message.find("Would fit"), std::string::npos) << smaller.message;

  auto t = tiers(m, s, {int64_t{8} << 30, int64_t{24} << 30});
  ASSERT_EQ(t.size(), 2u);
  ASSERT_TRUE(t[0].any);
  ASSERT_TRUE(t[1].any);
  EXPECT_LE(t[0].predicted, int64_t{8} << 30);
  EXPECT_GE(t[1].shapes.width * t[1].shapes.height * t[1].shapes.frames,
            t[0].shapes.width * t[0].shapes.height * t[0].shapes.frames);
}

// Packing pays only where the bf16 oneDNN kernels run on the weights as stored: not for float32
// compute, a GPU, a UNet cast per block or 8-bit weights. Where offered it costs memory (the
// estimate says how much) and is exact, so the planner takes it when it fits.
TEST(Planner, PackedWeightsOnlyForBf16OnACpu) {
  const ModelFacts m = official_facts();
  Shapes s = Shapes::of(256, 256, 8, 9.0, /*element_bytes=*/2);
  s.steps = 50;
  auto names = [&](const ModelFacts& facts, const Shapes& shapes) {
    std::vector<std::string> out;
    for (const auto& c : candidates(facts, shapes)) out.push_back(c.plan.name);
    return out;
  };
  ASSERT_EQ(names(m, s).front(), "packed");
  const auto c = candidates(m, s);
  EXPECT_GT(c[0].estimate.peak, c[1].estimate.peak);
  EXPECT_EQ(c[0].estimate.stage.at("unet") - c[1].estimate.stage.at("unet"),
            packed_weights_extra_bytes(m));
  EXPECT_GT(packed_weights_extra_bytes(m), m.unet_bytes / 8);
  EXPECT_TRUE(c[0].plan.exact());
  EXPECT_EQ(plan_for(m, s, c[0].estimate.peak).plan.name, "packed");
  EXPECT_EQ(plan_for(m, s, c[1].estimate.peak).plan.name, "plain");  // packing does not fit
  EXPECT_EQ(named_plan("packed").residency, Residency::Packed);
  EXPECT_EQ(parse_residency("packed"), Residency::Packed);
  EXPECT_EQ(ExecPlan::from_json(c[0].plan.to_json()), c[0].plan);

  Shapes fp32 = s;
  fp32.element_bytes = 4;
  Shapes gpu = s;
  gpu.gpu = true;
  ModelFacts staged = m;
  staged.unet_staged_block_bytes = m.unet_block_bytes;
  ModelFacts eight_bit = m;
  eight_bit.weights_8bit["unet"] = "int8";
  Shapes few_steps = s;  // the packing step would cost more than the later steps gain
  few_steps.steps = 2;
  for (const auto& v : {names(m, fp32), names(m, gpu), names(staged, s), names(eight_bit, s),
                        names(m, few_steps)}) {
    EXPECT_EQ(std::count(v.begin(), v.end(), "packed"), 0);
    EXPECT_EQ(v.front(), "plain");
  }
  // A reused Generator's packing is paid once for all its generations: any step count.
  Shapes reused = few_steps;
  reused.packing_reused = true;
  EXPECT_EQ(names(m, reused).front(), "packed");
  Shapes reused_fp32 = fp32;
  reused_fp32.packing_reused = true;
  EXPECT_EQ(names(m, reused_fp32).front(), "plain");
}

// Packed copies a Generator keeps stay resident after the UNet stage (VAE decode), and, when held
// from an earlier generation, from the first stage on; other plans free them first.
TEST(Estimator, KeptPackedWeightsCountInTheStagesTheyOutlast) {
  const ModelFacts m = official_facts();
  Shapes s = Shapes::of(256, 256, 8, 9.0, /*element_bytes=*/2);
  const ExecPlan packed = named_plan("packed");
  const Estimate once = estimate(m, s, packed);
  Shapes kept = s;
  kept.packed_kept = true;
  Shapes held = kept;
  held.packed_held = true;
  const Estimate after = estimate(m, kept, packed), before = estimate(m, held, packed);
  const int64_t copies = m.unet_bytes + packed_weights_extra_bytes(m);
  for (const char* stage : {"text", "image", "vae_encode"}) {
    EXPECT_EQ(after.stage.at(stage), once.stage.at(stage)) << stage;
    EXPECT_EQ(before.stage.at(stage), once.stage.at(stage) + copies) << stage;
  }
  EXPECT_EQ(after.stage.at("unet"), once.stage.at("unet"));
  EXPECT_EQ(before.stage.at("unet"), once.stage.at("unet"));
  EXPECT_EQ(after.stage.at("vae_decode"), once.stage.at("vae_decode") + copies);
  EXPECT_GT(before.peak, once.peak);
  const ExecPlan plain;
  EXPECT_EQ(estimate(m, held, plain).peak, estimate(m, s, plain).peak);
}

TEST(Estimator, StagedBlockCastAndVaeTilesChangeTheirStagesOnly) {
  const ModelFacts m = official_facts();
  Shapes s;
  s.width = s.height = 1024;
  s.frames = 16;
  const ExecPlan plain;
  const Estimate base = estimate(m, s, plain);
  ModelFacts cast = m;
  cast.unet_staged_block_bytes = int64_t{600} << 20;
  const Estimate with_cast = estimate(cast, s, plain);
  EXPECT_EQ(with_cast.stage.at("unet") - base.stage.at("unet"), cast.unet_staged_block_bytes);
  EXPECT_EQ(with_cast.stage.at("vae_decode"), base.stage.at("vae_decode"));

  ExecPlan tiled = plain;
  tiled.vae_tile = 256;
  EXPECT_FALSE(tiled.exact());
  EXPECT_TRUE(plain.exact());
  const Estimate t = estimate(m, s, tiled);
  EXPECT_LT(t.stage.at("vae_decode"), base.stage.at("vae_decode"));
  EXPECT_LT(t.stage.at("vae_encode"), base.stage.at("vae_encode"));
  EXPECT_EQ(t.stage.at("unet"), base.stage.at("unet"));
  // A tile larger than the frame is the plain path.
  tiled.vae_tile = 2048;
  EXPECT_EQ(estimate(m, s, tiled).stage.at("vae_decode"), base.stage.at("vae_decode"));
  EXPECT_EQ(ExecPlan::from_json(tiled.to_json()), tiled);  // the tiling travels in metadata
}

TEST(Estimator, GpuMemoryFollowsTheResidency) {
  const ModelFacts m = official_facts();
  Shapes s;
  s.width = s.height = 512;
  s.frames = 16;
  s.gpu = true;
  ExecPlan resident;
  const Estimate r = estimate(m, s, resident);
  EXPECT_EQ(r.stage.at("unet") - r.unet_activations,
            m.text_bytes + m.image_bytes + m.vae_bytes + m.unet_bytes);
  ExecPlan on_demand;
  on_demand.residency = Residency::OnDemand;
  const Estimate o = estimate(m, s, on_demand);
  EXPECT_EQ(o.stage.at("unet") - o.unet_activations, m.unet_bytes);
  EXPECT_EQ(o.stage.at("text"), m.text_bytes + (int64_t{40} << 20));
  EXPECT_LT(o.peak, r.peak);
  // Host RSS and GPU memory differ: the CPU estimate of the same plan keeps the mapped weights.
  Shapes host = s;
  host.gpu = false;
  EXPECT_NE(estimate(m, host, on_demand).peak, o.peak);

  auto c = candidates(m, s);
  ASSERT_EQ(c.size(), 5u);
  EXPECT_EQ(c[0].plan.name, "plain");
  EXPECT_EQ(c[0].plan.residency, Residency::Resident);
  EXPECT_EQ(c[1].plan.name, "plain+on-demand");
  for (size_t i = 1; i < c.size(); ++i) {
    EXPECT_LT(c[i].estimate.peak, c[i - 1].estimate.peak) << c[i].plan.name;
    if (i < 4) {
      EXPECT_EQ(c[i].plan.residency, Residency::OnDemand) << c[i].plan.name;
    }
  }
  EXPECT_EQ(c[4].estimate.stage.at("unet") - c[4].estimate.unet_activations,
            m.unet_rest_bytes + 2 * m.unet_block_bytes);
  // A 12 GiB card: the planner's choice fits it.
  PlanChoice twelve = plan_for(m, s, int64_t{12} << 30, 0.10);
  ASSERT_TRUE(twelve.fits);
  EXPECT_LE(twelve.estimate.peak, static_cast<int64_t>((int64_t{12} << 30) * 0.9));
}

}  // namespace
}  // namespace i2v::memory
