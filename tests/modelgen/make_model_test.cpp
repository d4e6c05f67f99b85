// make-model: random-weight models in the diffusers layout, written with bounded memory.
#include <gtest/gtest.h>

#include <fstream>

#include "i2v/error.h"
#include "i2v/io/safetensors.h"
#include "i2v/modelgen/component_builders.h"
#include "i2v/modelgen/make_model.h"
#include "i2v/modelgen/parameter_specs.h"
#include "i2v/modelgen/random_init.h"
#include "i2v/modelgen/shape_only_allocation.h"
#include "i2v/weights/model_dir.h"
#include "support/test_support.h"

namespace i2v::modelgen {
namespace fs = std::filesystem;
namespace {

fs::path configs_dir(const std::string& name) {
  return fs::path(I2V_SOURCE_DIR) / "configs" / "models" / name;
}

TEST(ShapeOnlyAllocation, TensorsShareTheirBacking) {
  at::Tensor a, b;
  {
    ShapeOnlyAllocation scope;
    a = at::empty({1024, 1024}, at::kFloat);  // 4 MiB
    b = at::empty({1024, 1024}, at::kFloat);
    a.fill_(1.0f);
    b.fill_(2.0f);
    EXPECT_EQ(a[0][0].item<float>(), 2.0f);  // same physical pages
    EXPECT_LE(ShapeOnlyAllocation::backing_bytes(), size_t{5} << 20);
  }
  // Outside the scope, allocations are ordinary again.
  at::Tensor c = at::ones({4});
  at::Tensor d = at::zeros({4});
  EXPECT_EQ(c.sum().item<float>(), 4.0f);
  EXPECT_EQ(d.sum().item<float>(), 0.0f);
}

TEST(RandomInit, DeterministicPerNameAndScaledByFanIn) {
  at::Tensor w1 = random_parameter("down.conv.weight", {64, 32, 3, 3}, 7);
  at::Tensor w2 = random_parameter("down.conv.weight", {64, 32, 3, 3}, 7);
  at::Tensor w3 = random_parameter("down.conv.weight", {64, 32, 3, 3}, 8);
  EXPECT_TRUE(w1.equal(w2));
  EXPECT_FALSE(w1.equal(w3));
  EXPECT_NEAR(w1.std().item<double>(), 1.0 / std::sqrt(32.0 * 9), 0.01);
  at::Tensor norm = random_parameter("norm.weight", {4096}, 0);
  EXPECT_NEAR(norm.mean().item<double>(), 1.0, 0.01);
  at::Tensor bias = random_parameter("conv.bias", {4096}, 0);
  EXPECT_NEAR(bias.std().item<double>(), 0.05, 0.005);
}

TEST(MakeModel, TinyModelLoadsStrictlyAndIsReproducible) {
  test::TempDir tmp;
  MakeModelOptions o;
  o.config_dir = configs_dir("tiny");
  o.out_dir = tmp / "tiny";
  o.seed = 3;
  auto reports = make_model(o);
  ASSERT_FALSE(reports.empty());
  EXPECT_TRUE(fs::exists(tmp / "tiny" / "tokenizer" / "vocab.json"));
  EXPECT_TRUE(fs::exists(tmp / "tiny" / "scheduler" / "scheduler_config.json"));
  EXPECT_FALSE(fs::exists(tmp / "tiny.partial"));
  // Parameter names and shapes equal the reference model's files.
  for (const auto& r : reports) {
    auto golden = io::SafetensorsFile::open(
        test::golden_pipeline() / r.name /
        (find_component_kind(r.class_name)->weights_name + ".safetensors"));
    auto made = io::SafetensorsFile::open(
        tmp / "tiny" / r.name / (find_component_kind(r.class_name)->weights_name + ".safetensors"));
    ASSERT_EQ(made->tensors().size(), golden->tensors().size()) << r.name;
    for (const auto& info : golden->tensors()) {
      const io::TensorInfo* m = made->find(info.name);
      ASSERT_NE(m, nullptr) << r.name << ": " << info.name;
      EXPECT_EQ(m->shape, info.shape) << info.name;
    }
  }
  // The same seed gives the same bytes.
  o.out_dir = tmp / "again";
  make_model(o);
  for (const auto& r : reports) {
    std::string file = find_component_kind(r.class_name)->weights_name + ".safetensors";
    auto a = io::load_safetensors(tmp / "tiny" / r.name / file);
    auto b = io::load_safetensors(tmp / "again" / r.name / file);
    for (const auto& [name, t] : a) EXPECT_TRUE(t.equal(b.at(name))) << name;
  }
}

TEST(MakeModel, RefusesToOverwriteAndRejectsBadConfigFolders) {
  test::TempDir tmp;
  fs::create_directories(tmp / "out");
  std::ofstream(tmp / "out" / "keep.txt") << "user data";
  MakeModelOptions o;
  o.config_dir = configs_dir("tiny");
  o.out_dir = tmp / "out";
  EXPECT_THROW(make_model(o), IoError);
  EXPECT_TRUE(fs::exists(tmp / "out" / "keep.txt"));
  o.config_dir = tmp / "nowhere";
  o.out_dir = tmp / "new";
  EXPECT_THROW(make_model(o), IoError);
  o.config_dir = configs_dir("tiny");
  o.dtype = at::kLong;
  EXPECT_THROW(make_model(o), ConfigError);
  EXPECT_FALSE(fs::exists(tmp / "new"));
  EXPECT_FALSE(fs::exists(tmp / "new.partial"));
}

TEST(MakeModel, OfficialArchitectureParameterCountsWithoutItsMemory) {
  const fs::path dir = configs_dir("i2vgen-xl");
  // The reference counts (diffusers 0.31 / transformers 4.45).
  const std::map<std::string, std::pair<std::string, int64_t>> expected = {
      {"text_encoder", {"CLIPTextModel", 352984064}},
      {"image_encoder", {"CLIPVisionModelWithProjection", 632076800}},
      {"vae", {"AutoencoderKL", 83653863}},
      {"unet", {"I2VGenXLUNet", 1420469224}}};
  for (const auto& [component, entry] : expected) {
    const std::string& cls = entry.first;
    const int64_t count = entry.second;
    auto specs = parameter_specs([&] { return build_component(cls, dir / component); });
    int64_t total = 0;
    for (const auto& s : specs) total += s.numel();
    EXPECT_EQ(total, count) << component;
  }
}

}  // namespace
}  // namespace i2v::modelgen
