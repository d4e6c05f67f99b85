// The module trees built from configs carry exactly the transformers state-dict names and
// shapes: the real I2VGen-XL encoders against the reference weight listings, the tiny ones
// against their files.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <fstream>
#include <map>
#include <sstream>

#include "clip/clip_test_util.h"
#include "i2v/models/clip/clip_text_model.h"
#include "i2v/models/clip/clip_vision_model.h"
#include "i2v/weights/state_dict.h"

namespace i2v::clip {
namespace {

using Listing = std::map<std::string, std::vector<int64_t>>;

// docs/weights/<component>_weights.tsv: "name<TAB>[d0, d1]<TAB>numel" per line.
Listing reference_listing(const std::string& component) {
  std::ifstream in(test::shared_dir() / "docs" / "weights" / (component + "_weights.tsv"));
  Listing out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name, shape;
    std::getline(fields, name, '\t');
    std::getline(fields, shape, '\t');
    std::vector<int64_t> dims;
    for (char& c : shape)
      if (c == '[' || c == ']' || c == ',') c = ' ';
    std::istringstream ds(shape);
    for (int64_t d; ds >> d;) dims.push_back(d);
    out[name] = dims;
  }
  return out;
}

Listing module_listing(const torch::nn::Module& m) {
  Listing out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value().sizes().vec();
  EXPECT_EQ(m.named_buffers().size(), 0u);  // position_ids is no buffer (non-persistent in 4.45)
  return out;
}

int64_t parameter_count(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

void expect_same(const Listing& model, const Listing& reference) {
  EXPECT_EQ(model.size(), reference.size());
  for (const auto& [name, shape] : reference) {
    auto it = model.find(name);
    if (it == model.end()) {
      ADD_FAILURE() << "missing in the model: " << name;
    } else {
      EXPECT_EQ(it->second, shape) << name;
    }
  }
  for (const auto& [name, shape] : model)
    EXPECT_TRUE(reference.count(name)) << "not in the reference: " << name;
}

// Parameters are allocated uninitialised, so building the 1.4 + 2.5 GB fp32 towers is cheap
// (no page is touched).
TEST(ClipArchitecture, OfficialTextEncoder) {
  auto config = ClipTextConfig::from_file(test::official_config("text_encoder"));
  ClipTextModel model(config);
  Listing reference = reference_listing("text_encoder");
  ASSERT_EQ(reference.size(), 388u);
  expect_same(module_listing(model), reference);
  EXPECT_EQ(parameter_count(model), 352984064);
}

TEST(ClipArchitecture, OfficialImageEncoder) {
  auto config = ClipVisionConfig::from_file(test::official_config("image_encoder"));
  ClipVisionModelWithProjection model(config);
  Listing reference = reference_listing("image_encoder");
  ASSERT_EQ(reference.size(), 520u);
  expect_same(module_listing(model), reference);
  EXPECT_EQ(parameter_count(model), 632076800);
}

TEST(ClipArchitecture, TinyEncodersMatchTheirFiles) {
  auto listing = [](const std::filesystem::path& file) {
    auto sd = weights::StateDict::open({file});
    Listing out;
    for (const auto& name : sd.names()) out[name] = sd.info(name).shape;
    return out;
  };
  ClipTextModel text(ClipTextConfig::from_file(test::clip_text_dir() / "config.json"));
  expect_same(module_listing(text), listing(test::clip_text_dir() / "model.safetensors"));
  ClipVisionModelWithProjection vision(
      ClipVisionConfig::from_file(test::clip_vision_dir() / "config.json"));
  expect_same(module_listing(vision), listing(test::clip_vision_dir() / "model.safetensors"));
}

TEST(ClipArchitecture, DtypeAndDeviceOfParameters) {
  auto config = ClipTextConfig::from_file(test::clip_text_dir() / "config.json");
  ClipTextModel model(config, at::TensorOptions().dtype(at::kBFloat16));
  for (const auto& p : model.parameters()) {
    EXPECT_EQ(p.scalar_type(), at::kBFloat16);
    EXPECT_FALSE(p.requires_grad());
  }
}

}  // namespace
}  // namespace i2v::clip
