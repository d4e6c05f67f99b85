// WeightStager: staged copies swap in and out without changing the home tensors; per-block casts
// inside a UNet forward equal a whole-model conversion exactly; a pipeline over bf16 files with
// fp32 compute keeps the UNet in bf16 and gives bit for bit the video of fp32 files holding the
// same (bf16-rounded) values.
#include <gtest/gtest.h>

#include <filesystem>

#include "i2v/image/decode.h"
#include "i2v/io/safetensors.h"
#include "i2v/memory/weight_stager.h"
#include "i2v/pipeline/i2v_pipeline.h"
#include "i2v/pipeline/model_facts.h"
#include "support/test_support.h"

namespace i2v::memory {
namespace {

namespace fs = std::filesystem;

struct Two : torch::nn::Module {
  Two() {
    w = register_parameter("w", at::arange(6, at::kFloat).reshape({2, 3}).to(at::kBFloat16));
    steps = register_buffer("steps", at::arange(3, at::kLong));
  }
  at::Tensor w, steps;
};

TEST(WeightStager, StagesACastCopyAndRestoresTheHome) {
  torch::NoGradGuard no_grad;
  Two m;
  const void* home_ptr = m.w.data_ptr();
  WeightStager stager({at::kCPU, at::kFloat, false});
  EXPECT_TRUE(stager.needs_staging(m));
  stager.stage(m);
  EXPECT_TRUE(stager.is_staged(m));
  EXPECT_EQ(m.w.scalar_type(), at::kFloat);
  EXPECT_EQ(m.steps.scalar_type(), at::kLong);  // integer tensors keep their dtype
  EXPECT_TRUE(m.w.equal(at::arange(6, at::kFloat).reshape({2, 3})));
  EXPECT_EQ(stager.staged_bytes(), 6 * 4);
  stager.stage(m);  // idempotent
  EXPECT_EQ(stager.staged_bytes(), 6 * 4);
  stager.unstage(m);
  EXPECT_FALSE(stager.is_staged(m));
  EXPECT_EQ(m.w.scalar_type(), at::kBFloat16);
  EXPECT_EQ(m.w.data_ptr(), home_ptr);  // the very same home memory, not a copy
  EXPECT_EQ(stager.staged_bytes(), 0);
  stager.unstage(m);  // not staged: nothing happens
  EXPECT_EQ(m.w.data_ptr(), home_ptr);
}

TEST(WeightStager, NothingToDoWhenHomeIsTheComputeDtype) {
  torch::NoGradGuard no_grad;
  Two m;
  WeightStager stager({at::kCPU, at::kBFloat16, false});
  EXPECT_FALSE(stager.needs_staging(m));
  const void* p = m.w.data_ptr();
  stager.stage(m);
  stager.prefetch(m);  // CPU: no side stream, nothing happens
  EXPECT_EQ(m.w.data_ptr(), p);
  EXPECT_EQ(stager.staged_bytes(), 0);
  stager.unstage(m);
  stager.convert_in_place(m);
  EXPECT_EQ(m.w.data_ptr(), p);
}

TEST(WeightStager, ConvertInPlaceKeepsNoHome) {
  torch::NoGradGuard no_grad;
  Two m;
  WeightStager({at::kCPU, at::kFloat, false}).convert_in_place(m);
  EXPECT_EQ(m.w.scalar_type(), at::kFloat);
  EXPECT_EQ(m.steps.scalar_type(), at::kLong);
}

TEST(BlockSchedule, NextWrapsAround) {
  Two a, b, c;
  BlockSchedule s{{&a, &b, &c}};
  EXPECT_EQ(s.next_after(&a), &b);
  EXPECT_EQ(s.next_after(&c), &a);
  Two other;
  EXPECT_EQ(s.next_after(&other), nullptr);
}

// A copy of the golden pipeline whose UNet files hold `unet` (every other component linked).
fs::path pipeline_with_unet(const test::TempDir& dir, const std::string& name,
                            const std::vector<std::pair<std::string, at::Tensor>>& unet) {
  const fs::path root = dir / name;
  fs::create_directories(root / "unet");
  for (const auto& entry : fs::directory_iterator(test::golden_pipeline())) {
    if (entry.path().filename() == "unet") continue;
    fs::create_symlink(entry.path(), root / entry.path().filename());
  }
  fs::copy_file(test::golden_pipeline() / "unet/config.json", root / "unet/config.json");
  io::save_safetensors(root / "unet/diffusion_pytorch_model.safetensors", unet);
  return root;
}

TEST(WeightStager, PipelineCastsUNetBlocksFromBf16FilesExactly) {
  test::TempDir dir;
  auto golden =
      io::load_safetensors(test::golden_pipeline() / "unet/diffusion_pytorch_model.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> bf16, rounded;
  for (const auto& [name, t] : golden) {
    bf16.emplace_back(name, t.is_floating_point() ? t.to(at::kBFloat16) : t);
    rounded.emplace_back(name, t.is_floating_point() ? t.to(at::kBFloat16).to(at::kFloat) : t);
  }
  pipeline::PipelineOptions fp32;
  fp32.dtype = at::kFloat;
  fp32.variant = weights::VariantMode::None;
  auto cast =
      pipeline::I2VGenXLPipeline::load(pipeline_with_unet(dir, "bf16", bf16).string(), fp32);
  auto ref =
      pipeline::I2VGenXLPipeline::load(pipeline_with_unet(dir, "rounded", rounded).string(), fp32);
  EXPECT_TRUE(cast->unet_cast_per_block());
  EXPECT_FALSE(ref->unet_cast_per_block());
  // The UNet's blocks stay in their stored precision (only the parts outside the top-level blocks
  // are converted; in this tiny model those are a large share).
  const auto cw = cast->component_weights().at("unet"), rw = ref->component_weights().at("unet");
  EXPECT_LT(cw.bytes, rw.bytes * 9 / 10);
  // The estimator's facts say the same before anything loads: the resident bytes exactly, and
  // the largest block's staged (fp32) copy.
  const auto facts =
      pipeline::model_facts(cast->model_dir(), at::kFloat, weights::VariantMode::None);
  EXPECT_EQ(facts.unet_bytes, cw.bytes);
  EXPECT_GT(facts.unet_staged_block_bytes, 0);
  const auto ref_facts =
      pipeline::model_facts(ref->model_dir(), at::kFloat, weights::VariantMode::None);
  EXPECT_EQ(ref_facts.unet_bytes, rw.bytes);
  EXPECT_EQ(ref_facts.unet_staged_block_bytes, 0);

  pipeline::GenerationRequest r;
  r.image = image::decode_image_file(test::golden_dir() / "input_image.png");
  r.prompt = "a fox";
  r.width = 64;
  r.height = 48;
  r.num_frames = 3;
  r.num_inference_steps = 2;
  r.seed = 7;
  for (const char* plan : {"plain", "stream"}) {
    r.plan = ExecPlan{};
    r.plan.name = plan;
    if (std::string(plan) == "stream") r.plan.residency = Residency::StreamBlocks;
    at::Tensor la, lb;
    pipeline::GenerationHooks ha, hb;
    ha.dump = [&](const std::string& n, const at::Tensor& t) {
      if (n == "final_latents") la = t.clone();
    };
    hb.dump = [&](const std::string& n, const at::Tensor& t) {
      if (n == "final_latents") lb = t.clone();
    };
    auto a = cast->generate(r, ha);
    auto b = ref->generate(r, hb);
    ASSERT_TRUE(la.defined() && lb.defined());
    EXPECT_TRUE(la.equal(lb)) << plan << ": max abs diff " << (la - lb).abs().max().item<double>();
    EXPECT_TRUE(a.frames.equal(b.frames)) << plan;
  }
}

}  // namespace
}  // namespace i2v::memory
