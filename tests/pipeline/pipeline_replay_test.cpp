// The whole pipeline replaying the reference run: the golden noise is injected, every dumped
// intermediate is compared with the tensor of the same name in pipeline_run.safetensors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "i2v/image/decode.h"
#include "i2v/io/safetensors.h"
#include "i2v/pipeline/i2v_pipeline.h"
#include "support/golden_run_request.h"
#include "support/test_support.h"

namespace i2v::pipeline {
namespace {

double rel_error(const at::Tensor& out, const at::Tensor& ref) {
  double scale = ref.to(at::kDouble).abs().max().item<double>();
  double diff = (out.to(at::kDouble) - ref.to(at::kDouble)).abs().max().item<double>();
  return scale > 0 ? diff / scale : diff;
}

TEST(PipelineReplay, GoldenRunEndToEnd) {
  auto run_file = io::SafetensorsFile::open(test::golden_dir() / "golden/pipeline_run.safetensors");
  std::map<std::string, at::Tensor> ref;
  for (const auto& info : run_file->tensors()) ref[info.name] = run_file->tensor(info.name);
  auto meta = nlohmann::json::parse(run_file->metadata().at("golden_meta"));

  auto pipe = I2VGenXLPipeline::load(test::golden_pipeline().string());
  GenerationRequest r = test::golden_run_request();
  r.decode_chunk_size = 1;

  std::map<std::string, at::Tensor> got;
  GenerationHooks hooks;
  hooks.dump = [&](const std::string& name, const at::Tensor& t) { got[name] = t.clone(); };
  GenerationResult result = pipe->generate(r, hooks);

  // Exact: ids and the uint8 image crops.
  EXPECT_TRUE(got.at("prompt_input_ids").equal(ref.at("prompt_input_ids")));
  EXPECT_TRUE(got.at("negative_input_ids").equal(ref.at("negative_input_ids")));
  EXPECT_TRUE(got.at("clip_input_image_uint8").equal(ref.at("clip_input_image_uint8")));
  EXPECT_TRUE(got.at("vae_input_image_uint8").equal(ref.at("vae_input_image_uint8")));
  EXPECT_TRUE(got.at("timesteps").equal(ref.at("timesteps")));

  // Within the golden README's whole-pipeline tolerance, for every float tensor both sides have.
  int compared = 0;
  for (const auto& [name, t] : got) {
    auto it = ref.find(name);
    if (it == ref.end() || !at::isFloatingType(t.scalar_type())) continue;
    ASSERT_EQ(t.sizes(), it->second.sizes()) << name;
    double e = rel_error(t, it->second);
    EXPECT_LE(e, 1e-3) << name;
    ++compared;
    if (name.find("step") != 0 || name.find("latents_out") != std::string::npos) {
      std::printf("[ golden ] %-32s rel err %.2e\n", name.c_str(), e);
    }
  }
  EXPECT_GE(compared, 30);
  // Final frames: uint8, at most one level off where rounding sits on a .5 boundary.
  at::Tensor diff = (result.frames.to(at::kInt) - ref.at("frames_uint8")[0].to(at::kInt)).abs();
  std::printf("[ golden ] frames_uint8 max diff %d, differing %lld of %lld\n",
              diff.max().item<int>(), static_cast<long long>((diff > 0).sum().item<int64_t>()),
              static_cast<long long>(diff.numel()));
  EXPECT_LE(diff.max().item<int>(), 1);
}

TEST(Pipeline, ProgressPreviewAndCancellation) {
  auto pipe = I2VGenXLPipeline::load(test::golden_pipeline().string());
  GenerationRequest r;
  r.image = image::decode_image_file(test::golden_dir() / "input_image.png");
  r.prompt = "a fox";
  r.width = 32;
  r.height = 16;
  r.num_frames = 2;
  r.num_inference_steps = 3;
  r.guidance_scale = 1.0;  // no classifier-free guidance: batch 1
  std::vector<StepProgress> seen;
  GenerationHooks hooks;
  hooks.on_step = [&](const StepProgress& p) { seen.push_back(p); };
  GenerationResult result = pipe->generate(r, hooks);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen.back().step, 3);
  EXPECT_EQ(seen.back().total, 3);
  EXPECT_EQ(seen.back().latents.sizes(), at::IntArrayRef({1, 4, 2, 8, 16}));
  EXPECT_EQ(seen.back().predicted_original.sizes(), seen.back().latents.sizes());
  EXPECT_EQ(result.frames.sizes(), at::IntArrayRef({2, 16, 32, 3}));
  int steps = 0;
  hooks.on_step = [&](const StepProgress&) { ++steps; };
  hooks.cancelled = [&] { return steps >= 1; };
  EXPECT_THROW(pipe->generate(r, hooks), CancelledError);
  EXPECT_EQ(steps, 1);
}

TEST(PipelineReplay, BadRequestsAreConfigErrors) {
  auto pipe = I2VGenXLPipeline::load(test::golden_pipeline().string());
  GenerationRequest r;
  r.image = image::RgbImage(8, 8);
  r.width = 81;  // not a multiple of the VAE factor
  r.height = 48;
  EXPECT_THROW(pipe->validate(r), ConfigError);
  r.width = 80;
  r.num_frames = 1;
  EXPECT_THROW(pipe->validate(r), ConfigError);
  r.num_frames = 4;
  r.num_inference_steps = 0;
  EXPECT_THROW(pipe->validate(r), ConfigError);
  r.num_inference_steps = 2;
  EXPECT_NO_THROW(pipe->validate(r));
}

}  // namespace
}  // namespace i2v::pipeline
