// I2VGenXLUNet against the reference: the golden unit files of its parts, every sub-module
// recorded during the first denoising step (unet_step0), and the whole UNet at step 0.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "i2v/error.h"
#include "i2v/io/safetensors.h"
#include "i2v/models/unet/i2vgen_xl_unet.h"
#include "i2v/weights/state_dict.h"
#include "support/test_support.h"

namespace i2v::unet {
namespace {

namespace fs = std::filesystem;

double rel_error(const at::Tensor& out, const at::Tensor& ref) {
  return (out.to(at::kDouble) - ref.to(at::kDouble)).abs().max().item<double>() /
         ref.to(at::kDouble).abs().max().item<double>();
}

fs::path unet_dir() {
  return test::golden_pipeline() / "unet";
}

I2VGenXLUNet golden_unet(const std::string& file = "diffusion_pytorch_model.safetensors") {
  I2VGenXLUNet unet(UNetConfig::from_file(unet_dir() / "config.json"));
  weights::LoadOptions o;
  o.dtype = at::kFloat;
  weights::load_state_dict_strict(*unet, weights::StateDict::open({unet_dir() / file}), "unet", o);
  unet->eval();
  return unet;
}

std::map<std::string, at::Tensor> load_file(const fs::path& p) {
  return io::load_safetensors(p);
}

// The tensor `name` of unet_step0, following the metadata's alias list.
struct Step0 {
  std::map<std::string, at::Tensor> t;
  std::map<std::string, std::string> aliases;
  Step0() {
    auto file = io::SafetensorsFile::open(test::golden_dir() / "golden/unet_step0.safetensors");
    for (const auto& info : file->tensors()) t[info.name] = file->tensor(info.name);
    auto meta = nlohmann::json::parse(file->metadata().at("golden_meta"));
    if (meta.contains("aliases")) {
      for (auto it = meta["aliases"].begin(); it != meta["aliases"].end(); ++it) {
        aliases[it.key()] = it.value().get<std::string>();
      }
    }
  }
  const at::Tensor& at(const std::string& name) const {
    auto a = aliases.find(name);
    return t.at(a == aliases.end() ? name : a->second);
  }
  bool has(const std::string& name) const { return t.count(name) || aliases.count(name); }
  UNetInputs inputs() const {
    return {at("unet.in.sample"),
            at("unet.in.timestep"),
            at("unet.in.fps"),
            at("unet.in.image_latents"),
            at("unet.in.image_embeddings"),
            at("unet.in.encoder_hidden_states")};
  }
};

constexpr double kModuleTol = 1e-4;
constexpr double kUNetTol = 1e-3;

TEST(UNetGolden, EveryRecordedStageOfStep0) {
  torch::NoGradGuard ng;
  Step0 s;
  auto unet = golden_unet();
  std::map<std::string, double> errors;
  at::Tensor out = unet->forward(s.inputs(), [&](const std::string& name, const at::Tensor& t) {
    if (s.has(name)) errors[name] = rel_error(t, s.at(name));
  });
  // Every stage the reference recorded as an output, traced by the port, is compared.
  for (const char* name :
       {"time_proj.call0.out", "time_proj.call1.out", "time_embedding.out", "fps_embedding.out",
        "context_embedding.out", "image_latents_context_embedding.out", "image_latents_proj_in.out",
        "image_latents_temporal_encoder.out", "down_blocks.0.in.temb",
        "down_blocks.0.in.encoder_hidden_states", "conv_in.out", "transformer_in.out.0",
        "down_blocks.0.out.0", "down_blocks.1.out.0", "mid_block.out", "up_blocks.0.out",
        "up_blocks.1.out", "conv_norm_out.out", "conv_out.out"}) {
    ASSERT_TRUE(errors.count(name)) << name << " was not traced or not recorded";
    EXPECT_LE(errors[name], kModuleTol) << name;
    std::printf("[ golden ] step0 %-40s rel err %.2e\n", name, errors[name]);
  }
  double e = rel_error(out, s.at("unet.out.sample"));
  std::printf("[ golden ] step0 whole UNet fp32 rel err %.2e\n", e);
  EXPECT_LE(e, kUNetTol);
}

TEST(UNetGolden, BlocksFromStep0Inputs) {
  // Each block run alone on the reference's own inputs (so errors do not accumulate).
  torch::NoGradGuard ng;
  Step0 s;
  auto unet = golden_unet();
  const int64_t f = s.at("unet.in.sample").size(2);
  const at::Tensor& temb = s.at("down_blocks.0.in.temb");
  const at::Tensor& ctx = s.at("down_blocks.0.in.encoder_hidden_states");
  std::vector<at::Tensor> skips;
  at::Tensor d0 = unet->down_blocks[0]->forward(s.at("transformer_in.out.0"), temb, ctx, f, skips);
  EXPECT_LE(rel_error(d0, s.at("down_blocks.0.out.0")), kModuleTol);
  EXPECT_LE(rel_error(skips.at(0), s.at("down_blocks.0.out.1.0")), kModuleTol);
  at::Tensor mid = unet->mid_block->forward(s.at("down_blocks.1.out.0"), temb, ctx, f);
  EXPECT_LE(rel_error(mid, s.at("mid_block.out")), kModuleTol);
  std::vector<at::Tensor> res = {s.at("up_blocks.1.in.res_hidden_states_tuple.0"),
                                 s.at("up_blocks.1.in.res_hidden_states_tuple.1")};
  at::Tensor up1 = unet->up_blocks[1]->forward(s.at("up_blocks.0.out"), temb, ctx, f, res, {});
  EXPECT_LE(rel_error(up1, s.at("up_blocks.1.out")), kModuleTol);
  at::Tensor enc =
      unet->image_latents_temporal_encoder->forward(s.at("image_latents_temporal_encoder.in.arg0"));
  EXPECT_LE(rel_error(enc, s.at("image_latents_temporal_encoder.out")), kModuleTol);
}

TEST(UNetGolden, UnitFiles) {
  torch::NoGradGuard ng;
  auto unet = golden_unet();
  auto units = test::golden_dir() / "golden/units";
  {
    auto u = load_file(units / "unet_time_fps_embedding.safetensors");
    at::Tensor emb = unet->time_embedding_of(u.at("in.timesteps"), u.at("in.fps"),
                                             u.at("in.timesteps").size(0), 1, at::kFloat);
    EXPECT_LE(rel_error(emb, u.at("out.emb")), kModuleTol);
    EXPECT_LE(rel_error(timestep_projection(u.at("in.fps"), 32), u.at("out.fps_proj")), 1e-6);
  }
  {
    auto u = load_file(units / "unet_context_embedding.safetensors");
    EXPECT_LE(rel_error(unet->context_embedding->forward(u.at("in.image_embeddings")), u.at("out")),
              kModuleTol);
  }
  {
    auto u = load_file(units / "unet_image_latents_context_embedding.safetensors");
    EXPECT_LE(rel_error(unet->image_latents_context_embedding->pooled(u.at("in.x")),
                        u.at("internal.pool.out")),
              kModuleTol);
    EXPECT_LE(rel_error(unet->image_latents_context_embedding->forward(u.at("in.x")), u.at("out")),
              kModuleTol);
  }
  {
    auto u = load_file(units / "unet_image_latents_temporal_encoder.safetensors");
    EXPECT_LE(rel_error(unet->image_latents_temporal_encoder->forward(u.at("in.hidden_states")),
                        u.at("out")),
              kModuleTol);
  }
  {
    auto u = load_file(units / "unet_down_block_0.safetensors");
    std::vector<at::Tensor> skips;
    at::Tensor h = unet->down_blocks[0]->forward(u.at("in.hidden_states"), u.at("in.temb"),
                                                 u.at("in.encoder_hidden_states"), 4, skips);
    EXPECT_LE(rel_error(h, u.at("out.hidden_states")), kModuleTol);
    ASSERT_EQ(skips.size(), 2u);
    EXPECT_LE(rel_error(skips[0], u.at("out.res_samples.0")), kModuleTol);
    EXPECT_LE(rel_error(skips[1], u.at("out.res_samples.1")), kModuleTol);
  }
  {
    auto u = load_file(units / "unet_mid_block.safetensors");
    at::Tensor h = unet->mid_block->forward(u.at("in.hidden_states"), u.at("in.temb"),
                                            u.at("in.encoder_hidden_states"), 4);
    EXPECT_LE(rel_error(h, u.at("out")), kModuleTol);
  }
  {
    auto u = load_file(units / "unet_up_block_0.safetensors");
    std::vector<at::Tensor> res = {u.at("in.res_hidden_states_tuple.0"),
                                   u.at("in.res_hidden_states_tuple.1")};
    at::Tensor h =
        unet->up_blocks[0]->forward(u.at("in.hidden_states"), u.at("in.temb"), {}, 4, res, {});
    EXPECT_LE(rel_error(h, u.at("out")), kModuleTol);
  }
}

TEST(UNetGolden, Bf16AndFp16Weights) {
  torch::NoGradGuard ng;
  Step0 s;
  // fp16 variant converted to fp32 on load.
  auto unet16 = golden_unet("diffusion_pytorch_model.fp16.safetensors");
  double e16 = rel_error(unet16->forward(s.inputs()), s.at("unet.out.sample"));
  std::printf("[ golden ] whole UNet, fp16 weights as fp32: rel err %.2e\n", e16);
  EXPECT_LE(e16, 5e-3);
  // bf16 weights and activations.
  auto unet = golden_unet();
  unet->to(at::kBFloat16);
  UNetInputs in = s.inputs();
  for (at::Tensor* t :
       {&in.sample, &in.image_latents, &in.image_embeddings, &in.encoder_hidden_states}) {
    *t = t->to(at::kBFloat16);
  }
  at::Tensor out = unet->forward(in);
  EXPECT_EQ(out.scalar_type(), at::kBFloat16);
  double eb = rel_error(out, s.at("unet.out.sample"));
  std::printf("[ golden ] whole UNet, bf16 weights + activations: rel err %.2e\n", eb);
  EXPECT_LE(eb, 5e-2);
}

TEST(UNet, OfficialArchitectureParameterCount) {
  UNetConfig c =
      UNetConfig::from_file(fs::path(I2V_SOURCE_DIR) / "configs/models/i2vgen-xl/unet/config.json");
  // Counted from the layer shapes alone, without allocating the 5.7 GB.
  I2VGenXLUNet tiny(UNetConfig::from_file(unet_dir() / "config.json"));
  int64_t tiny_count = 0;
  for (const auto& p : tiny->parameters()) tiny_count += p.numel();
  auto file = io::SafetensorsFile::open(unet_dir() / "diffusion_pytorch_model.safetensors");
  int64_t file_count = 0;
  for (const auto& info : file->tensors()) file_count += info.numel();
  EXPECT_EQ(tiny_count, file_count);
  EXPECT_EQ(c.head_size(), 64);
}

TEST(UNet, BadInputsAndConfigsAreClearErrors) {
  auto unet = golden_unet();
  Step0 s;
  UNetInputs in = s.inputs();
  in.image_latents = in.image_latents.slice(2, 0, 2);
  EXPECT_THROW(unet->forward(in), ShapeError);
  nlohmann::json j = {{"down_block_types", {"CrossAttnDownBlock3D", "Weird"}},
                      {"up_block_types", {"UpBlock3D", "CrossAttnUpBlock3D"}},
                      {"block_out_channels", {32, 64}}};
  EXPECT_THROW(UNetConfig::from_json(j, "test"), ConfigError);
}

}  // namespace
}  // namespace i2v::unet
