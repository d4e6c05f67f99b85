// StateDict over one or several files, and the strict loader's checks on a small module.
#include <gtest/gtest.h>

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <fstream>

#include "i2v/error.h"
#include "i2v/weights/state_dict.h"
#include "i2v/weights/weight_files.h"
#include "weights_test_util.h"

namespace i2v::weights {
namespace {

using test::TempDir;
using Tensors = std::vector<std::pair<std::string, at::Tensor>>;

// A small model: proj (Linear 4->3), block.conv (Conv2d 3->2, 3x3), block.norm (GroupNorm 1x2),
// and a buffer `scale`.
struct BlockImpl : torch::nn::Module {
  BlockImpl()
      : conv(register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 2, 3)))),
        norm(register_module("norm", torch::nn::GroupNorm(torch::nn::GroupNormOptions(1, 2)))) {}
  torch::nn::Conv2d conv;
  torch::nn::GroupNorm norm;
};
TORCH_MODULE(Block);

struct TinyImpl : torch::nn::Module {
  TinyImpl()
      : proj(register_module("proj", torch::nn::Linear(4, 3))),
        block(register_module("block", Block())) {
    scale = register_buffer("scale", at::ones({3}));
  }
  torch::nn::Linear proj;
  Block block;
  at::Tensor scale;
};
TORCH_MODULE(Tiny);

// Tensors for every name of Tiny, with recognisable values.
Tensors tiny_tensors(at::ScalarType dtype = at::kFloat) {
  at::manual_seed(7);
  Tensors t = {{"proj.weight", at::randn({3, 4})},
               {"proj.bias", at::randn({3})},
               {"block.conv.weight", at::randn({2, 3, 3, 3})},
               {"block.conv.bias", at::randn({2})},
               {"block.norm.weight", at::randn({2})},
               {"block.norm.bias", at::randn({2})},
               {"scale", at::randn({3})}};
  for (auto& [n, x] : t) x = x.to(dtype);
  return t;
}

void expect_loaded(Tiny& m, const Tensors& ref) {
  auto params = m->named_parameters();
  auto buffers = m->named_buffers();
  for (const auto& [name, x] : ref) {
    at::Tensor got = params.contains(name) ? params[name] : buffers[name];
    EXPECT_EQ(got.scalar_type(), at::kFloat) << name;
    EXPECT_TRUE(got.equal(x.to(at::kFloat))) << name;
  }
}

TEST(StrictLoader, LoadsEveryParameterAndBuffer) {
  TempDir tmp;
  Tensors ref = tiny_tensors();
  io::save_safetensors(tmp / "w.safetensors", ref);
  StateDict sd = StateDict::open({tmp / "w.safetensors"});
  EXPECT_EQ(sd.size(), 7u);
  EXPECT_TRUE(sd.contains("block.conv.weight"));
  EXPECT_FALSE(sd.contains("block.conv"));
  EXPECT_EQ(sd.info("block.conv.weight").shape, (std::vector<int64_t>{2, 3, 3, 3}));
  EXPECT_THROW(sd.info("nope"), FormatError);
  for (bool zero_copy : {true, false}) {
    StateDict fresh = StateDict::open({tmp / "w.safetensors"});
    Tiny m;
    LoadOptions opt;
    opt.zero_copy = zero_copy;
    load_state_dict_strict(*m, fresh, "tiny", opt);
    expect_loaded(m, ref);
    // Zero-copy parameters view the file mapping; copies own their memory.
    EXPECT_EQ(m->proj->weight.data_ptr() == fresh.tensor("proj.weight").data_ptr(), zero_copy);
    EXPECT_TRUE(m->proj->weight.requires_grad());
    // Loaded parameters are writable (copy-on-write mapping or own memory); the file never changes.
    {
      torch::NoGradGuard g;
      m->proj->weight.add_(1.0);
    }
    EXPECT_TRUE(
        StateDict::open({tmp / "w.safetensors"}).tensor("proj.weight").equal(ref[0].second));
    // A zero-copy parameter shares memory with its StateDict (documented in LoadOptions).
    EXPECT_EQ(fresh.tensor("proj.weight").equal(ref[0].second), !zero_copy);
    at::Tensor y = m->proj->forward(at::ones({1, 4}));
    EXPECT_EQ(y.sizes(), (c10::IntArrayRef{1, 3}));
  }
}

TEST(StrictLoader, ReportsAllMissingUnexpectedAndMisShapedInOneError) {
  TempDir tmp;
  Tensors bad = {
      {"proj.weight", at::zeros({3, 5})},              // mis-shaped
      {"proj.bias", at::zeros({3})},                   // fine
      {"block.conv.weight", at::zeros({2, 3, 1, 1})},  // mis-shaped
      // block.conv.bias, block.norm.weight, block.norm.bias, scale: missing
      {"block.conv.extra", at::zeros({1})},  // unexpected
      {"head.weight", at::zeros({2, 2})},    // unexpected
  };
  io::save_safetensors(tmp / "bad.safetensors", bad);
  StateDict sd = StateDict::open({tmp / "bad.safetensors"});
  Tiny m;
  at::Tensor before = m->proj->weight.clone();
  try {
    load_state_dict_strict(*m, sd, "tiny-model");
    FAIL() << "expected a ShapeError";
  } catch (const ShapeError& e) {
    std::string msg = e.what();
    for (const char* name : {"tiny-model", "bad.safetensors", "block.conv.bias",
                             "block.norm.weight", "block.norm.bias", "scale", "block.conv.extra",
                             "head.weight", "proj.weight: file [3, 5], model [3, 4]",
                             "block.conv.weight: file [2, 3, 1, 1], model [2, 3, 3, 3]",
                             "4 missing", "2 unexpected", "2 mis-shaped"})
      EXPECT_NE(msg.find(name), std::string::npos) << "'" << name << "' not in: " << msg;
    EXPECT_EQ(msg.find("proj.bias"), std::string::npos) << msg;
  }
  EXPECT_TRUE(m->proj->weight.equal(before));  // nothing half-loaded
}

TEST(StrictLoader, CapsLongListingsWithACount) {
  TempDir tmp;
  Tensors many = tiny_tensors();
  for (int i = 0; i < 45; ++i) many.push_back({"extra." + std::to_string(i), at::zeros({1})});
  io::save_safetensors(tmp / "many.safetensors", many);
  StateDict sd = StateDict::open({tmp / "many.safetensors"});
  Tiny m;
  try {
    load_state_dict_strict(*m, sd, "tiny");
    FAIL();
  } catch (const ShapeError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("45 unexpected"), std::string::npos) << msg;
    EXPECT_NE(msg.find("and 25 more"), std::string::npos) << msg;
  }
}

TEST(StrictLoader, Fp16FileIntoFp32ModuleWithinRounding) {
  TempDir tmp;
  Tensors full = tiny_tensors();
  Tensors half;
  for (const auto& [n, x] : full) half.push_back({n, x.to(at::kHalf)});
  io::save_safetensors(tmp / "h.safetensors", half);
  StateDict sd = StateDict::open({tmp / "h.safetensors"});
  Tiny m;
  load_state_dict_strict(*m, sd, "tiny");
  auto params = m->named_parameters();
  for (const auto& [n, x] : full) {
    at::Tensor got = params.contains(n) ? params[n] : m->named_buffers()[n];
    ASSERT_EQ(got.scalar_type(), at::kFloat) << n;
    double err = (got - x).abs().max().item<double>();
    EXPECT_LE(err, x.abs().max().item<double>() * std::ldexp(1.0, -11)) << n;
  }
  // The fp16 file's values differ from fp32 somewhere (so the check above is not vacuous).
  EXPECT_FALSE(params["proj.weight"].equal(full[0].second));
}

TEST(StrictLoader, PrefixLoadsASubModule) {
  TempDir tmp;
  Tensors t = {{"down.0.conv.weight", at::randn({2, 3, 3, 3})},
               {"down.0.conv.bias", at::randn({2})},
               {"down.0.norm.weight", at::randn({2})},
               {"down.0.norm.bias", at::randn({2})},
               {"down.1.conv.weight", at::randn({5})}};
  io::save_safetensors(tmp / "p.safetensors", t);
  StateDict sd = StateDict::open({tmp / "p.safetensors"});
  Block b;
  LoadOptions opt;
  opt.prefix = "down.0.";
  load_state_dict_strict(*b, sd, "unet", opt);
  EXPECT_TRUE(b->conv->weight.equal(t[0].second));
  EXPECT_TRUE(b->norm->bias.equal(t[3].second));
  opt.prefix = "down.1.";
  try {
    load_state_dict_strict(*b, sd, "unet", opt);
    FAIL();
  } catch (const ShapeError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("down.1.conv.bias"), std::string::npos) << msg;  // full names
    EXPECT_NE(msg.find("down.1.conv.weight: file [5]"), std::string::npos) << msg;
  }
}

TEST(StateDict, DuplicateNamesAcrossFilesAreAnError) {
  TempDir tmp;
  io::save_safetensors(tmp / "a.safetensors", {{"x", at::zeros({1})}, {"y", at::zeros({1})}});
  io::save_safetensors(tmp / "b.safetensors", {{"y", at::zeros({1})}});
  try {
    StateDict::open({tmp / "a.safetensors", tmp / "b.safetensors"});
    FAIL();
  } catch (const FormatError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("'y'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("b.safetensors"), std::string::npos) << msg;
  }
}

// Writes `tensors` as a diffusers-style sharded set: <base>-0000k-of-0000n.safetensors + index.
void write_sharded(const std::filesystem::path& dir, const std::string& base,
                   const std::string& index_name, const std::vector<Tensors>& shards) {
  nlohmann::json map = nlohmann::json::object();
  for (size_t k = 0; k < shards.size(); ++k) {
    char shard[128];
    std::snprintf(shard, sizeof shard, "%s-%05zu-of-%05zu.safetensors", base.c_str(), k + 1,
                  shards.size());
    io::save_safetensors(dir / shard, shards[k]);
    for (const auto& [n, x] : shards[k]) map[n] = shard;
  }
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", map}};
  std::ofstream(dir / index_name) << index.dump(2);
}

TEST(ShardedWeights, LoadThroughTheIndex) {
  TempDir tmp;
  Tensors ref = tiny_tensors();
  write_sharded(tmp.path(), "diffusion_pytorch_model",
                "diffusion_pytorch_model.safetensors.index.json",
                {Tensors(ref.begin(), ref.begin() + 3), Tensors(ref.begin() + 3, ref.end())});
  WeightFiles w = find_weight_files(tmp.path(), "diffusers", {});
  ASSERT_TRUE(w.index);
  EXPECT_EQ(w.files.size(), 2u);
  EXPECT_EQ(w.variant, "");
  StateDict sd = open_weight_files(w);
  EXPECT_EQ(sd.size(), ref.size());
  Tiny m;
  load_state_dict_strict(*m, sd, "tiny");
  expect_loaded(m, ref);
}

TEST(ShardedWeights, VariantIndexNamesAreFound) {
  TempDir tmp;
  Tensors ref = tiny_tensors(at::kHalf);
  // transformers/diffusers name a sharded variant's index <base>.safetensors.index.<v>.json
  write_sharded(tmp.path(), "model.fp16", "model.safetensors.index.fp16.json",
                {Tensors(ref.begin(), ref.begin() + 4), Tensors(ref.begin() + 4, ref.end())});
  Tensors bf = tiny_tensors(at::kBFloat16);
  write_sharded(tmp.path(), "model.bf16", "model.bf16.safetensors.index.json", {bf});
  io::save_safetensors(tmp / "model.safetensors", tiny_tensors());
  auto all = list_weight_files(tmp.path(), "transformers");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(find_weight_files(tmp.path(), "transformers", {VariantMode::Fp16}).files.size(), 2u);
  EXPECT_EQ(find_weight_files(tmp.path(), "transformers", {VariantMode::Bf16}).files.size(), 1u);
  EXPECT_EQ(
      find_weight_files(tmp.path(), "transformers", {VariantMode::Auto, at::kBFloat16}).variant,
      "bf16");
  EXPECT_EQ(find_weight_files(tmp.path(), "transformers", {VariantMode::Auto, at::kHalf}).variant,
            "fp16");
  EXPECT_EQ(find_weight_files(tmp.path(), "transformers", {}).variant, "");
  StateDict sd =
      open_weight_files(find_weight_files(tmp.path(), "transformers", {VariantMode::Fp16}));
  EXPECT_EQ(sd.info("proj.weight").dtype, io::StDType::F16);
}

TEST(ShardedWeights, MissingShardIsAClearError) {
  TempDir tmp;
  Tensors ref = tiny_tensors();
  write_sharded(tmp.path(), "diffusion_pytorch_model",
                "diffusion_pytorch_model.safetensors.index.json",
                {Tensors(ref.begin(), ref.begin() + 3), Tensors(ref.begin() + 3, ref.end())});
  std::filesystem::remove(tmp / "diffusion_pytorch_model-00002-of-00002.safetensors");
  try {
    find_weight_files(tmp.path(), "diffusers", {});
    FAIL();
  } catch (const IoError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("diffusion_pytorch_model-00002-of-00002.safetensors"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("diffusion_pytorch_model.safetensors.index.json"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("00001-of"), std::string::npos) << msg;  // the present shard is not blamed
  }
}

TEST(ShardedWeights, IndexThatDisagreesWithShardsIsAnError) {
  TempDir tmp;
  Tensors ref = tiny_tensors();
  write_sharded(tmp.path(), "diffusion_pytorch_model",
                "diffusion_pytorch_model.safetensors.index.json",
                {Tensors(ref.begin(), ref.begin() + 3), Tensors(ref.begin() + 3, ref.end())});
  auto index = read_json_file(tmp / "diffusion_pytorch_model.safetensors.index.json");
  index["weight_map"]["ghost.weight"] = "diffusion_pytorch_model-00001-of-00002.safetensors";
  index["weight_map"]["proj.weight"] = "diffusion_pytorch_model-00002-of-00002.safetensors";
  std::ofstream(tmp / "diffusion_pytorch_model.safetensors.index.json") << index.dump();
  try {
    open_weight_files(find_weight_files(tmp.path(), "diffusers", {}));
    FAIL();
  } catch (const FormatError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("'ghost.weight' is in the index but in no shard"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'proj.weight' is in diffusion_pytorch_model-00001"), std::string::npos)
        << msg;
  }
  std::ofstream(tmp / "diffusion_pytorch_model.safetensors.index.json") << "{\"weight_map\": 3}";
  EXPECT_THROW(find_weight_files(tmp.path(), "diffusers", {}), FormatError);
  std::ofstream(tmp / "diffusion_pytorch_model.safetensors.index.json") << "{not json";
  EXPECT_THROW(find_weight_files(tmp.path(), "diffusers", {}), FormatError);
}

TEST(WeightFiles, PickleOnlyAndEmptyFoldersAreClearErrors) {
  TempDir tmp;
  std::ofstream(tmp / "diffusion_pytorch_model.bin") << "pickle";
  try {
    find_weight_files(tmp.path(), "diffusers", {});
    FAIL();
  } catch (const FormatError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("only safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("diffusion_pytorch_model.bin"), std::string::npos) << msg;
  }
  std::filesystem::remove(tmp / "diffusion_pytorch_model.bin");
  try {
    find_weight_files(tmp.path(), "diffusers", {});
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(tmp.path().string()), std::string::npos) << e.what();
  }
  EXPECT_THROW(find_weight_files(tmp / "absent", "diffusers", {}), IoError);
  // A shard file alone is neither a variant nor a single file.
  io::save_safetensors(tmp / "model-00001-of-00002.safetensors", {{"x", at::zeros({1})}});
  EXPECT_TRUE(list_weight_files(tmp.path(), "transformers").empty());
}

TEST(WeightFiles, VariantModesParse) {
  EXPECT_EQ(parse_variant_mode("auto"), VariantMode::Auto);
  EXPECT_EQ(parse_variant_mode("none"), VariantMode::None);
  EXPECT_EQ(parse_variant_mode("fp16"), VariantMode::Fp16);
  EXPECT_EQ(parse_variant_mode("bf16"), VariantMode::Bf16);
  EXPECT_THROW(parse_variant_mode("int8"), ConfigError);
  EXPECT_EQ(variant_preference({VariantMode::Auto, at::kFloat}),
            (std::vector<std::string>{"", "fp16", "bf16"}));
  EXPECT_EQ(variant_preference({VariantMode::Auto, at::kBFloat16}).front(), "bf16");
  EXPECT_EQ(variant_preference({VariantMode::None}), (std::vector<std::string>{""}));
}

}  // namespace
}  // namespace i2v::weights
