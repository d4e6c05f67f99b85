// CLIPVisionModelWithProjection against the transformers 4.45 reference tensors.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cstdio>

#include "clip/clip_test_util.h"
#include "i2v/error.h"
#include "i2v/models/clip/clip_loading.h"

namespace i2v::clip {
namespace {

using test::golden_tensor;
using test::relative_error;

constexpr double kFp32Tolerance = 1e-4;         // README: single modules, relative to absmax
constexpr double kFp16WeightsTolerance = 3e-3;  // weights rounded to fp16, compute in fp32
constexpr double kBf16Tolerance = 4e-2;         // bf16 weights and activations

const std::string kUnit = "units/clip_vision.safetensors";
const std::string kRun = "pipeline_run.safetensors";

std::shared_ptr<ClipVisionModelWithProjection> load(at::ScalarType dtype,
                                                    weights::VariantMode variant) {
  ClipLoadOptions options;
  options.dtype = dtype;
  options.variant = variant;
  return load_clip_vision_model(test::clip_vision_dir(), options);
}

double report(const char* what, const at::Tensor& actual, const at::Tensor& expected) {
  double err = relative_error(actual, expected);
  std::printf("    %-44s max error / absmax = %.3g\n", what, err);
  return err;
}

TEST(ClipVisionGolden, UnitAllOutputsFp32) {
  auto model = load(at::kFloat, weights::VariantMode::None);
  ClipVisionOutput out = model->forward(golden_tensor(kUnit, "in.pixel_values"), true);
  ASSERT_EQ(out.hidden_states.size(), 3u);  // pre_layrnorm(embeddings) + 2 layers
  for (int i = 0; i < 3; ++i) {
    std::string name = "out.hidden_states." + std::to_string(i);
    EXPECT_LT(report(name.c_str(), out.hidden_states[i], golden_tensor(kUnit, name)),
              kFp32Tolerance);
  }
  EXPECT_LT(report("last_hidden_state", out.last_hidden_state,
                   golden_tensor(kUnit, "out.last_hidden_state")),
            kFp32Tolerance);
  EXPECT_LT(report("image_embeds", out.image_embeds, golden_tensor(kUnit, "out.image_embeds")),
            kFp32Tolerance);
}

TEST(ClipVisionGolden, PipelineImageEmbedsFp32) {
  auto model = load(at::kFloat, weights::VariantMode::None);
  ClipVisionOutput out = model->forward(golden_tensor(kRun, "clip_pixel_values"));
  EXPECT_LT(report("image_encoder_last_hidden_state", out.last_hidden_state,
                   golden_tensor(kRun, "image_encoder_last_hidden_state")),
            kFp32Tolerance);
  EXPECT_LT(report("image_embeds", out.image_embeds, golden_tensor(kRun, "image_embeds")),
            kFp32Tolerance);
  EXPECT_TRUE(
      at::equal(model->image_embeds(golden_tensor(kRun, "clip_pixel_values")), out.image_embeds));
}

TEST(ClipVisionGolden, Fp16WeightsLoadedAsFp32) {
  auto model = load(at::kFloat, weights::VariantMode::Fp16);
  EXPECT_EQ(model->visual_projection->weight.scalar_type(), at::kFloat);
  at::Tensor embeds = model->image_embeds(golden_tensor(kRun, "clip_pixel_values"));
  double err = report("image_embeds, fp16 weights", embeds, golden_tensor(kRun, "image_embeds"));
  EXPECT_LT(err, kFp16WeightsTolerance);
  EXPECT_GT(err, 0.0);
}

TEST(ClipVisionGolden, Bf16) {
  auto model = load(at::kBFloat16, weights::VariantMode::None);
  // fp32 pixels are cast to the model's dtype, as transformers does.
  ClipVisionOutput out = model->forward(golden_tensor(kUnit, "in.pixel_values"));
  EXPECT_EQ(out.image_embeds.scalar_type(), at::kBFloat16);
  EXPECT_LT(report("bf16 last_hidden_state", out.last_hidden_state,
                   golden_tensor(kUnit, "out.last_hidden_state")),
            kBf16Tolerance);
  EXPECT_LT(report("bf16 image_embeds", out.image_embeds, golden_tensor(kUnit, "out.image_embeds")),
            kBf16Tolerance);
}

TEST(ClipVisionGolden, BatchItemsAreIndependent) {
  auto model = load(at::kFloat, weights::VariantMode::None);
  const at::Tensor& px = golden_tensor(kRun, "clip_pixel_values");
  at::Tensor pair = at::cat({px, px.flip(-1)}, 0);
  at::Tensor embeds = model->image_embeds(pair);
  ASSERT_EQ(embeds.sizes(), (std::vector<int64_t>{2, 32}));
  EXPECT_TRUE(at::allclose(embeds[0], golden_tensor(kRun, "image_embeds")[0], 0, 1e-4));
  EXPECT_FALSE(at::allclose(embeds[1], embeds[0], 0, 1e-3));
}

}  // namespace
}  // namespace i2v::clip

namespace i2v::clip {
namespace {

// Both towers from the pipeline folder (model_index.json), as the pipeline loads them.
TEST(ClipFromPipelineFolder, BothTowers) {
  auto dir = weights::ModelDir::open(test::golden_pipeline().string());
  auto text = load_clip_text_model(dir);
  auto vision = load_clip_vision_model(dir);
  const std::string run = "pipeline_run.safetensors";
  EXPECT_LT(relative_error(text->prompt_embeds(golden_tensor(run, "negative_input_ids")),
                           golden_tensor(run, "negative_prompt_embeds")),
            kFp32Tolerance);
  EXPECT_LT(relative_error(vision->image_embeds(golden_tensor(run, "clip_pixel_values")),
                           golden_tensor(run, "image_embeds")),
            kFp32Tolerance);
  // A component of another kind is not a CLIP tower.
  EXPECT_THROW(load_clip_text_model(dir, {}, "image_encoder"), ShapeError);
}

}  // namespace
}  // namespace i2v::clip
