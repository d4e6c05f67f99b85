// LoRA on the golden tiny UNet and CLIP text encoder: files in the diffusers/PEFT, kohya and
// attention-processor layouts, merged and unmerged, against weights merged by hand in float64.
#include <gtest/gtest.h>

#include <fstream>

#include "i2v/error.h"
#include "i2v/io/safetensors.h"
#include "i2v/lora/adapter_set.h"
#include "i2v/lora/attachment.h"
#include "i2v/lora/runtime_adapters.h"
#include "i2v/models/clip/clip_loading.h"
#include "i2v/models/unet/i2vgen_xl_unet.h"
#include "i2v/weights/state_dict.h"
#include "lora/lora_files.h"
#include "support/test_support.h"

namespace i2v::lora {
namespace {
namespace fs = std::filesystem;
using test::LoraLayout;

unet::I2VGenXLUNet golden_unet() {
  const fs::path dir = test::golden_pipeline() / "unet";
  unet::I2VGenXLUNet u(unet::UNetConfig::from_file(dir / "config.json"));
  weights::LoadOptions o;
  o.dtype = at::kFloat;
  weights::load_state_dict_strict(
      *u, weights::StateDict::open({dir / "diffusion_pytorch_model.safetensors"}), "unet", o);
  u->eval();
  return u;
}

unet::UNetInputs inputs() {
  at::Generator g = at::detail::createCPUGenerator(7);
  const int64_t b = 2, f = 3, h = 16, w = 16;
  return {at::randn({b, 4, f, h, w}, g), at::tensor({500, 500}),   at::tensor({8, 8}),
          at::randn({b, 4, f, h, w}, g), at::randn({b, 1, 32}, g), at::randn({b, 77, 32}, g)};
}

double rel_error(const at::Tensor& out, const at::Tensor& ref) {
  return (out.to(at::kDouble) - ref.to(at::kDouble)).abs().max().item<double>() /
         ref.to(at::kDouble).abs().max().item<double>();
}

std::shared_ptr<const LoraFile> read(const fs::path& p) {
  return std::make_shared<const LoraFile>(read_lora_file(p));
}

class LoraUNet : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    torch::NoGradGuard ng;
    unet_ = new unet::I2VGenXLUNet(golden_unet());
    catalog_ = new TargetCatalog{{"unet", adaptable_weights(**unet_)}};
    base_ = new at::Tensor((*unet_)->forward(inputs()));
  }
  static void TearDownTestSuite() {
    delete unet_;
    delete catalog_;
    delete base_;
  }
  static at::Tensor run(const AdapterSet& set, Mode mode) {
    torch::NoGradGuard ng;
    Attachment attached(**unet_, set.components.at("unet"), mode);
    return (*unet_)->forward(inputs());
  }
  static unet::I2VGenXLUNet* unet_;
  static TargetCatalog* catalog_;
  static at::Tensor* base_;
  test::TempDir tmp_;
};
unet::I2VGenXLUNet* LoraUNet::unet_ = nullptr;
TargetCatalog* LoraUNet::catalog_ = nullptr;
at::Tensor* LoraUNet::base_ = nullptr;

// Every linear and convolution of the UNet (spatial and temporal attention, feed-forwards, 3x3 and
// 1x1 convolutions, the (3,1,1) temporal convolutions, transformer_in, the image-latent and
// embedding layers) adapted at once: both layouts, both modes, equal to the float64 merge. The
// unmerged mode passing proves every layer takes its weight through nn::layer_weight.
TEST_F(LoraUNet, EveryLayerPeftAndKohyaMergedAndUnmergedMatchFloat64Merge) {
  torch::NoGradGuard ng;
  const auto adapters = test::random_adapters(**unet_, "unet", {}, 4, 3, /*alpha=*/2.0);
  ASSERT_GT(adapters.size(), 60u);
  const double multiplier = 0.8;
  unet::I2VGenXLUNet reference = golden_unet();
  test::merge_by_hand(*reference, adapters, "unet", multiplier);
  const at::Tensor expected = reference->forward(inputs());
  ASSERT_GT(rel_error(*base_, expected), 1e-2) << "the LoRA must change the output";

  for (LoraLayout layout : {LoraLayout::Peft, LoraLayout::Kohya}) {
    const fs::path file =
        tmp_ / (layout == LoraLayout::Peft ? "peft.safetensors" : "kohya.safetensors");
    test::write_lora(file, layout, adapters);
    const AdapterSet set = resolve({{read(file), multiplier}}, *catalog_);
    EXPECT_EQ(set.loras.at(0).modules.at("unet"), static_cast<int>(adapters.size()));
    for (Mode mode : {Mode::Merged, Mode::Unmerged}) {
      const at::Tensor out = run(set, mode);
      EXPECT_LT(rel_error(out, expected), 1e-5) << file.filename() << " " << to_string(mode);
    }
    EXPECT_FALSE(any_runtime_adapters()) << "detached after the attachment ends";
  }
  // Detached: the base weights are back.
  EXPECT_TRUE((*unet_)->forward(inputs()).equal(*base_));
}

TEST_F(LoraUNet, ScaleZeroGivesTheBaseOutputBitForBit) {
  const auto adapters = test::random_adapters(**unet_, "unet", {}, 4, 5);
  const fs::path file = tmp_ / "lora.safetensors";
  test::write_lora(file, LoraLayout::Peft, adapters);
  const AdapterSet set = resolve({{read(file), 0.0}}, *catalog_);
  for (Mode mode : {Mode::Merged, Mode::Unmerged})
    EXPECT_TRUE(run(set, mode).equal(*base_)) << to_string(mode);
}

TEST_F(LoraUNet, AttentionProcessorLayoutAlphaAndSeveralLoras) {
  // to_q/to_k/to_v/to_out.0 of every attention, written the old way, equal the PEFT file.
  const auto attention =
      test::random_adapters(**unet_, "unet", {".to_q.", ".to_k.", ".to_v.", ".to_out.0."}, 2, 9);
  test::write_lora(tmp_ / "proc.safetensors", LoraLayout::AttentionProcessor, attention);
  test::write_lora(tmp_ / "peft.safetensors", LoraLayout::Peft, attention);
  const AdapterSet proc = resolve({{read(tmp_ / "proc.safetensors"), 1.0}}, *catalog_);
  const AdapterSet peft = resolve({{read(tmp_ / "peft.safetensors"), 1.0}}, *catalog_);
  EXPECT_EQ(proc.loras[0].layout, "attention-processor");
  EXPECT_TRUE(run(proc, Mode::Unmerged).equal(run(peft, Mode::Unmerged)));

  // alpha = r/2 at multiplier 1 is multiplier 0.5 without alpha.
  auto halved = attention;
  for (auto& a : halved) a.alpha = a.down.size(0) / 2.0;
  test::write_lora(tmp_ / "alpha.safetensors", LoraLayout::Kohya, halved);
  const AdapterSet alpha = resolve({{read(tmp_ / "alpha.safetensors"), 1.0}}, *catalog_);
  const AdapterSet half = resolve({{read(tmp_ / "peft.safetensors"), 0.5}}, *catalog_);
  EXPECT_LT(rel_error(run(alpha, Mode::Merged), run(half, Mode::Merged)), 1e-6);

  // Two LoRAs at once: their deltas add.
  const auto ff = test::random_adapters(**unet_, "unet", {".ff.", "temp_convs"}, 3, 4);
  test::write_lora(tmp_ / "ff.safetensors", LoraLayout::Peft, ff);
  const AdapterSet both = resolve(
      {{read(tmp_ / "peft.safetensors"), 0.7}, {read(tmp_ / "ff.safetensors"), -0.5}}, *catalog_);
  EXPECT_EQ(both.loras.size(), 2u);
  torch::NoGradGuard ng;
  unet::I2VGenXLUNet reference = golden_unet();
  test::merge_by_hand(*reference, attention, "unet", 0.7);
  test::merge_by_hand(*reference, ff, "unet", -0.5);
  const at::Tensor expected = reference->forward(inputs());
  EXPECT_LT(rel_error(run(both, Mode::Merged), expected), 1e-5);
  EXPECT_LT(rel_error(run(both, Mode::Unmerged), expected), 1e-5);
}

// kohya writes module paths with '_' for '.': resolved against the real paths, so the names of
// the 3-D blocks (which contain '_' themselves) find their layers.
TEST_F(LoraUNet, KohyaNamesOfThe3dBlocksResolve) {
  const auto adapters = test::random_adapters(
      **unet_, "unet",
      {"temp_attentions", "transformer_in", "temp_convs", "image_latents_proj_in",
       "image_latents_context_embedding", "image_latents_temporal_encoder", "fps_embedding"},
      2, 1);
  ASSERT_GT(adapters.size(), 20u);
  test::write_lora(tmp_ / "k.safetensors", LoraLayout::Kohya, adapters);
  const LoraFile f = read_lora_file(tmp_ / "k.safetensors");
  EXPECT_EQ(f.layout, "kohya");
  const AdapterSet set = resolve({{std::make_shared<const LoraFile>(f), 1.0}}, *catalog_);
  for (const auto& a : adapters)
    EXPECT_TRUE(set.components.at("unet").count(a.module + ".weight")) << a.module;
}

TEST_F(LoraUNet, EveryProblemOfAFileIsListedInOneError) {
  at::Generator g = at::detail::createCPUGenerator(1);
  const std::string attn = "down_blocks.0.attentions.0.transformer_blocks.0.attn1";
  std::vector<std::pair<std::string, at::Tensor>> t = {
      // fits
      {"unet." + attn + ".to_q.lora_A.weight", at::randn({2, 32}, g)},
      {"unet." + attn + ".to_q.lora_B.weight", at::randn({32, 2}, g)},
      // no such layer
      {"unet." + attn + ".to_z.lora_A.weight", at::randn({2, 32}, g)},
      {"unet." + attn + ".to_z.lora_B.weight", at::randn({32, 2}, g)},
      // wrong in-features
      {"unet." + attn + ".to_k.lora_A.weight", at::randn({2, 31}, g)},
      {"unet." + attn + ".to_k.lora_B.weight", at::randn({32, 2}, g)},
      // down without up
      {"unet." + attn + ".to_v.lora_A.weight", at::randn({2, 32}, g)},
      // a LoHa key
      {"lora_unet_down_blocks_0_attentions_0_proj_in.hada_w1_a", at::randn({2, 2}, g)},
  };
  io::save_safetensors(tmp_ / "bad.safetensors", t);
  try {
    resolve({{read(tmp_ / "bad.safetensors"), 1.0}}, *catalog_);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("bad.safetensors"), std::string::npos) << m;
    EXPECT_NE(m.find("4 problems"), std::string::npos) << m;
    EXPECT_NE(m.find("to_z"), std::string::npos) << m;
    EXPECT_NE(m.find("to_k.lora_A.weight: down (A) [2, 31]"), std::string::npos) << m;
    EXPECT_NE(m.find("no up (B)"), std::string::npos) << m;
    EXPECT_NE(m.find("hada_w1_a"), std::string::npos) << m;
  }
  // Not a LoRA at all, and not a safetensors file.
  io::save_safetensors(tmp_ / "model.safetensors", {{"conv_in.weight", at::zeros({2, 2})}});
  EXPECT_THROW(read_lora_file(tmp_ / "model.safetensors"), FormatError);
  std::ofstream(tmp_ / "junk.safetensors") << "not a safetensors file";
  EXPECT_THROW(read_lora_file(tmp_ / "junk.safetensors"), FormatError);
  EXPECT_THROW(read_lora_file(tmp_ / "missing.safetensors"), IoError);
}

TEST(LoraTextEncoder, KohyaTeAdaptersMatchFloat64Merge) {
  torch::NoGradGuard ng;
  const fs::path dir = test::golden_pipeline() / "text_encoder";
  auto model = clip::load_clip_text_model(dir);
  const TargetCatalog catalog{{"text_encoder", adaptable_weights(*model)}};
  EXPECT_FALSE(catalog.at("text_encoder").count("text_model.embeddings.token_embedding.weight"));
  const auto adapters = test::random_adapters(*model, "text_encoder", {}, 4, 2, 4.0);
  test::TempDir tmp;
  test::write_lora(tmp / "te.safetensors", LoraLayout::Kohya, adapters);
  const AdapterSet set = resolve({{read(tmp / "te.safetensors"), 1.0}}, catalog);
  const at::Tensor ids = at::randint(0, 770, {1, 77}, at::detail::createCPUGenerator(3));
  const at::Tensor base = model->prompt_embeds(ids);
  auto reference = clip::load_clip_text_model(dir);
  test::merge_by_hand(*reference, adapters, "text_encoder", 1.0);
  const at::Tensor expected = reference->prompt_embeds(ids);
  EXPECT_GT(rel_error(base, expected), 1e-2);
  for (Mode mode : {Mode::Merged, Mode::Unmerged}) {
    Attachment attached(*model, set.components.at("text_encoder"), mode);
    EXPECT_LT(rel_error(model->prompt_embeds(ids), expected), 1e-5) << to_string(mode);
  }
  EXPECT_TRUE(model->prompt_embeds(ids).equal(base));
}

}  // namespace
}  // namespace i2v::lora
