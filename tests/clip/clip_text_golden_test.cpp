// CLIPTextModel against the transformers 4.45 reference tensors of the tiny pipeline.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cstdio>

#include "clip/clip_test_util.h"
#include "i2v/models/clip/clip_loading.h"

namespace i2v::clip {
namespace {

using test::golden_tensor;
using test::relative_error;

constexpr double kFp32Tolerance = 1e-4;  // README: single modules, relative to absmax
// The fp16 weight file rounds every weight to 11 significant bits (relative 2^-12); that moves
// the outputs by a few 1e-4 of their range.
constexpr double kFp16WeightsTolerance = 3e-3;
// bf16 activations and weights (8 significant bits) through 2 layers and the final LayerNorm.
constexpr double kBf16Tolerance = 4e-2;

const std::string kUnit = "units/clip_text.safetensors";
const std::string kRun = "pipeline_run.safetensors";

std::shared_ptr<ClipTextModel> load(at::ScalarType dtype, weights::VariantMode variant) {
  ClipLoadOptions options;
  options.dtype = dtype;
  options.variant = variant;
  return load_clip_text_model(test::clip_text_dir(), options);
}

double report(const char* what, const at::Tensor& actual, const at::Tensor& expected) {
  double err = relative_error(actual, expected);
  std::printf("    %-44s max error / absmax = %.3g\n", what, err);
  return err;
}

TEST(ClipTextGolden, UnitAllOutputsFp32) {
  auto model = load(at::kFloat, weights::VariantMode::None);
  const at::Tensor& ids = golden_tensor(kUnit, "in.input_ids");
  ClipTextOutput out = model->forward(ids, {}, /*output_hidden_states=*/true);

  ASSERT_EQ(out.hidden_states.size(), 3u);  // embeddings + 2 layers
  for (int i = 0; i < 3; ++i) {
    std::string name = "out.hidden_states." + std::to_string(i);
    EXPECT_LT(report(name.c_str(), out.hidden_states[i], golden_tensor(kUnit, name)),
              kFp32Tolerance);
  }
  EXPECT_LT(report("last_hidden_state", out.last_hidden_state,
                   golden_tensor(kUnit, "out.last_hidden_state")),
            kFp32Tolerance);
  EXPECT_LT(report("pooler_output (legacy argmax pooling)", out.pooler_output,
                   golden_tensor(kUnit, "out.pooler_output")),
            kFp32Tolerance);
  EXPECT_LT(report("prompt_embeds (clip_skip 1)", model->prompt_embeds(ids, 1),
                   golden_tensor(kUnit, "out.penultimate_final_ln")),
            kFp32Tolerance);
  // clip_skip 0 is the plain last_hidden_state.
  EXPECT_TRUE(at::equal(model->prompt_embeds(ids, 0), out.last_hidden_state));
}

TEST(ClipTextGolden, PipelinePromptEmbedsFp32) {
  auto model = load(at::kFloat, weights::VariantMode::None);
  for (std::string which : {"prompt", "negative"}) {
    const at::Tensor& ids = golden_tensor(kRun, which + "_input_ids");
    ClipTextOutput out = model->forward(ids, {}, true);
    EXPECT_LT(report((which + "_text_hidden_state_penultimate").c_str(), out.hidden_states[1],
                     golden_tensor(kRun, which + "_text_hidden_state_penultimate")),
              kFp32Tolerance);
    EXPECT_LT(report((which + "_text_last_hidden_state").c_str(), out.last_hidden_state,
                     golden_tensor(kRun, which + "_text_last_hidden_state")),
              kFp32Tolerance);
    std::string embeds = which == "prompt" ? "prompt_embeds" : "negative_prompt_embeds";
    EXPECT_LT(report(embeds.c_str(), model->prompt_embeds(ids, 1), golden_tensor(kRun, embeds)),
              kFp32Tolerance);
  }
}

TEST(ClipTextGolden, Fp16WeightsLoadedAsFp32) {
  auto model = load(at::kFloat, weights::VariantMode::Fp16);
  EXPECT_EQ(model->text_model->final_layer_norm->weight.scalar_type(), at::kFloat);
  const at::Tensor& ids = golden_tensor(kRun, "prompt_input_ids");
  at::Tensor embeds = model->prompt_embeds(ids, 1);
  double err = report("prompt_embeds, fp16 weights", embeds, golden_tensor(kRun, "prompt_embeds"));
  EXPECT_LT(err, kFp16WeightsTolerance);
  EXPECT_GT(err, 0.0);  // the fp16 file really was read (its weights are rounded)
}

TEST(ClipTextGolden, Bf16) {
  auto model = load(at::kBFloat16, weights::VariantMode::None);
  const at::Tensor& ids = golden_tensor(kUnit, "in.input_ids");
  ClipTextOutput out = model->forward(ids, {}, true);
  EXPECT_EQ(out.last_hidden_state.scalar_type(), at::kBFloat16);
  EXPECT_LT(report("bf16 last_hidden_state", out.last_hidden_state,
                   golden_tensor(kUnit, "out.last_hidden_state")),
            kBf16Tolerance);
  EXPECT_LT(
      report("bf16 pooler_output", out.pooler_output, golden_tensor(kUnit, "out.pooler_output")),
      kBf16Tolerance);
  at::Tensor embeds = model->prompt_embeds(golden_tensor(kRun, "prompt_input_ids"), 1);
  EXPECT_EQ(embeds.scalar_type(), at::kBFloat16);
  EXPECT_LT(report("bf16 prompt_embeds", embeds, golden_tensor(kRun, "prompt_embeds")),
            kBf16Tolerance);
}

TEST(ClipTextGolden, OneDimensionalIdsAreOneSequence) {
  auto model = load(at::kFloat, weights::VariantMode::None);
  const at::Tensor& ids = golden_tensor(kRun, "prompt_input_ids");
  at::Tensor batched = model->prompt_embeds(ids, 1);
  at::Tensor single = model->prompt_embeds(ids[0], 1);
  EXPECT_TRUE(at::allclose(single, batched));
}

TEST(ClipTextGolden, CausalMaskIgnoresLaterTokens) {
  // Changing the last tokens must not change the states of the earlier ones.
  auto model = load(at::kFloat, weights::VariantMode::None);
  at::Tensor ids = golden_tensor(kRun, "prompt_input_ids").clone();
  at::Tensor a = model->prompt_embeds(ids, 1);
  ids.index_put_({0, at::indexing::Slice(40, at::indexing::None)}, 5);
  at::Tensor b = model->prompt_embeds(ids, 1);
  using at::indexing::Slice;
  EXPECT_TRUE(at::equal(a.index({0, Slice(0, 40)}), b.index({0, Slice(0, 40)})));
  EXPECT_FALSE(at::allclose(a.index({0, Slice(40, 77)}), b.index({0, Slice(40, 77)})));
}

TEST(ClipTextGolden, PaddingMaskOfOnesEqualsNoMask) {
  auto model = load(at::kFloat, weights::VariantMode::None);
  const at::Tensor& ids = golden_tensor(kUnit, "in.input_ids");
  ClipTextOutput plain = model->forward(ids);
  ClipTextOutput ones = model->forward(ids, at::ones_like(ids));
  EXPECT_TRUE(at::allclose(plain.last_hidden_state, ones.last_hidden_state, 0, 1e-6));
  // Masking the keys after position 10 of sequence 0 changes nothing before position 11.
  at::Tensor mask = at::ones_like(ids);
  mask.index_put_({0, at::indexing::Slice(11, at::indexing::None)}, 0);
  ClipTextOutput masked = model->forward(ids, mask);
  using at::indexing::Slice;
  EXPECT_TRUE(at::allclose(masked.last_hidden_state.index({0, Slice(0, 11)}),
                           plain.last_hidden_state.index({0, Slice(0, 11)}), 0, 1e-6));
  EXPECT_FALSE(at::allclose(masked.last_hidden_state.index({0, Slice(11, 77)}),
                            plain.last_hidden_state.index({0, Slice(11, 77)})));
}

}  // namespace
}  // namespace i2v::clip
