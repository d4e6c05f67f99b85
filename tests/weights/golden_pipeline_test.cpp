// The golden tiny pipeline folder: resolves, every component's files are found for each variant,
// and every tensor loads with the names, shapes and dtypes the reference MANIFEST lists.
#include <gtest/gtest.h>

#include "i2v/error.h"
#include "i2v/weights/model_dir.h"
#include "weights_test_util.h"

namespace i2v::weights {
namespace {

using test::golden_pipeline;

const std::vector<std::string> kWeighted = {"image_encoder", "text_encoder", "unet", "vae"};

std::string weights_file(const std::string& component) {
  return component == "unet" || component == "vae" ? "diffusion_pytorch_model" : "model";
}

TEST(GoldenPipeline, ResolvesWithAllComponents) {
  ModelDir dir = ModelDir::open(golden_pipeline().string());
  EXPECT_EQ(dir.index().class_name, "I2VGenXLPipeline");
  EXPECT_EQ(dir.index().diffusers_version, "0.31.0");
  EXPECT_EQ(dir.index().names(),
            (std::vector<std::string>{"feature_extractor", "image_encoder", "scheduler",
                                      "text_encoder", "tokenizer", "unet", "vae"}));
  EXPECT_EQ(dir.index().component("unet").class_name, "I2VGenXLUNet");
  EXPECT_EQ(dir.index().component("image_encoder").library, "transformers");
  EXPECT_EQ(dir.config_path("scheduler").filename(), "scheduler_config.json");
  EXPECT_EQ(dir.config_path("feature_extractor").filename(), "preprocessor_config.json");
  EXPECT_EQ(dir.config_path("unet").filename(), "config.json");
  EXPECT_EQ(dir.config("vae").at("_class_name"), "AutoencoderKL");
  for (const auto& c : kWeighted) EXPECT_TRUE(dir.has_weights(c)) << c;
  for (const char* c : {"scheduler", "tokenizer", "feature_extractor"})
    EXPECT_FALSE(dir.has_weights(c)) << c;
  EXPECT_THROW(dir.component_dir("safety_checker"), ConfigError);
  // The index file itself is accepted for its folder.
  EXPECT_EQ(ModelDir::open((golden_pipeline() / "model_index.json").string()).root(), dir.root());
}

TEST(GoldenPipeline, FindsPlainAndFp16FilesPerVariantPolicy) {
  ModelDir dir = ModelDir::open(golden_pipeline().string());
  for (const auto& c : kWeighted) {
    SCOPED_TRACE(c);
    auto all = dir.available_weights(c);
    ASSERT_EQ(all.size(), 2u);
    WeightFiles none = dir.weight_files(c, {VariantMode::None});
    ASSERT_EQ(none.files.size(), 1u);
    EXPECT_EQ(none.files[0], golden_pipeline() / c / (weights_file(c) + ".safetensors"));
    EXPECT_EQ(none.variant, "");
    EXPECT_FALSE(none.index);
    WeightFiles fp16 = dir.weight_files(c, {VariantMode::Fp16});
    ASSERT_EQ(fp16.files.size(), 1u);
    EXPECT_EQ(fp16.files[0], golden_pipeline() / c / (weights_file(c) + ".fp16.safetensors"));
    // auto: full precision for fp32 compute, the half file for half compute.
    EXPECT_EQ(dir.weight_files(c, {VariantMode::Auto, at::kFloat}).variant, "");
    EXPECT_EQ(dir.weight_files(c, {VariantMode::Auto, at::kBFloat16}).variant, "fp16");
    EXPECT_EQ(dir.weight_files(c, {VariantMode::Auto, at::kHalf}).variant, "fp16");
    // An explicit variant that does not exist is an error that lists what does.
    try {
      dir.weight_files(c, {VariantMode::Bf16});
      FAIL() << "bf16 does not exist";
    } catch (const ConfigError& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find("bf16"), std::string::npos) << msg;
      EXPECT_NE(msg.find(weights_file(c) + ".fp16.safetensors"), std::string::npos) << msg;
      EXPECT_NE(msg.find(weights_file(c) + ".safetensors"), std::string::npos) << msg;
    }
  }
}

TEST(GoldenPipeline, EveryTensorMatchesTheManifest) {
  ModelDir dir = ModelDir::open(golden_pipeline().string());
  size_t checked = 0;
  for (const auto& c : kWeighted) {
    for (VariantMode mode : {VariantMode::None, VariantMode::Fp16}) {
      std::string suffix = mode == VariantMode::Fp16 ? ".fp16.safetensors" : ".safetensors";
      SCOPED_TRACE(c + suffix);
      auto expected = test::manifest_tensors("pipeline/" + c + "/" + weights_file(c) + suffix);
      ASSERT_FALSE(expected.empty());
      StateDict sd = dir.open_weights(c, {mode});
      std::vector<std::string> expected_names;
      for (const auto& [n, t] : expected) expected_names.push_back(n);
      EXPECT_EQ(sd.names(), expected_names);
      const io::StDType want = mode == VariantMode::Fp16 ? io::StDType::F16 : io::StDType::F32;
      for (const auto& [name, t] : expected) {
        if (!sd.contains(name)) continue;
        const auto& info = sd.info(name);
        EXPECT_EQ(io::to_string(info.dtype), t.dtype) << name;
        EXPECT_EQ(info.dtype, want) << name;
        EXPECT_EQ(info.shape, t.shape) << name;
        at::Tensor x = sd.tensor(name);
        EXPECT_EQ(x.sizes(), c10::IntArrayRef(t.shape)) << name;
        EXPECT_EQ(x.scalar_type(), mode == VariantMode::Fp16 ? at::kHalf : at::kFloat) << name;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 400u);
}

// Loading the fp16 file into fp32 parameters equals the fp32 file within fp16 rounding, and
// loading the fp32 file reproduces it exactly (zero-copy or not).
TEST(GoldenPipeline, StrictLoadOfEveryComponentAndFp16Conversion) {
  ModelDir dir = ModelDir::open(golden_pipeline().string());
  for (const auto& c : kWeighted) {
    SCOPED_TRACE(c);
    StateDict full = dir.open_weights(c, {VariantMode::None});
    StateDict half = dir.open_weights(c, {VariantMode::Fp16});
    auto from_full = test::module_like(full, at::kFloat);
    auto from_half = test::module_like(full, at::kFloat);
    auto copied = test::module_like(full, at::kFloat);
    load_state_dict_strict(*from_full, full, c);
    load_state_dict_strict(*from_half, half, c);
    LoadOptions no_alias;
    no_alias.zero_copy = false;
    load_state_dict_strict(*copied, full, c, no_alias);
    auto half_params = from_half->named_parameters();
    auto copied_params = copied->named_parameters();
    for (const auto& p : from_full->named_parameters()) {
      at::Tensor ref = full.tensor(p.key());
      ASSERT_TRUE(p.value().equal(ref)) << p.key();
      ASSERT_TRUE(copied_params[p.key()].equal(ref)) << p.key();
      at::Tensor h = half_params[p.key()];
      ASSERT_EQ(h.scalar_type(), at::kFloat);
      // fp16 keeps 11 significant bits: relative error <= 2^-11 (plus subnormal floor).
      double err = (h - ref).abs().max().item<double>();
      double bound = ref.abs().max().item<double>() * std::ldexp(1.0, -11) + 1e-7;
      ASSERT_LE(err, bound) << p.key();
      // And it is exactly the fp16 file's values.
      ASSERT_TRUE(h.equal(half.tensor(p.key()).to(at::kFloat))) << p.key();
    }
  }
}

TEST(GoldenPipeline, LoadOptionsDtypeConvertsParameters) {
  ModelDir dir = ModelDir::open(golden_pipeline().string());
  StateDict full = dir.open_weights("vae", {VariantMode::None});
  auto m = test::module_like(full, at::kFloat);
  LoadOptions to_bf16;
  to_bf16.dtype = at::kBFloat16;
  load_state_dict_strict(*m, full, "vae", to_bf16);
  for (const auto& p : m->named_parameters()) {
    ASSERT_EQ(p.value().scalar_type(), at::kBFloat16) << p.key();
    ASSERT_TRUE(p.value().equal(full.tensor(p.key()).to(at::kBFloat16))) << p.key();
  }
}

TEST(GoldenPipeline, LoadIntoNamesComponentAndFileOnMismatch) {
  ModelDir dir = ModelDir::open(golden_pipeline().string());
  StateDict full = dir.open_weights("unet", {VariantMode::None});
  std::vector<std::pair<std::string, std::vector<int64_t>>> params;
  // The model has conv_in.extra (not in the file) and lacks conv_in.bias (in the file).
  for (const auto& n : full.names())
    if (n != "conv_in.bias") params.push_back({n, full.info(n).shape});
  params.push_back({"conv_in.extra", {1}});
  auto bad = test::module_with(params, at::kFloat);
  try {
    dir.load_into(*bad, "unet", {VariantMode::Fp16});
    FAIL();
  } catch (const ShapeError& e) {
    std::string msg = e.what();
    for (const char* s : {"'unet'", "diffusion_pytorch_model.fp16.safetensors", "1 missing",
                          "1 unexpected", "conv_in.extra [1]", "conv_in.bias [32]"})
      EXPECT_NE(msg.find(s), std::string::npos) << "'" << s << "' not in: " << msg;
  }
  // The complete module loads through the same entry point.
  auto good = test::module_like(full, at::kFloat);
  dir.load_into(*good, "unet", {VariantMode::Fp16});
  EXPECT_TRUE(good->named_parameters()["conv_in.bias"].equal(
      dir.open_weights("unet", {VariantMode::Fp16}).tensor("conv_in.bias").to(at::kFloat)));
}

}  // namespace
}  // namespace i2v::weights
