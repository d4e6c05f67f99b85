// AutoencoderKL against the diffusers 0.31 reference tensors of the tiny pipeline: the encode and
// decode units stage by stage, the VAE-level units, the pipeline run's posterior and decoded
// video, the fp16 weight variant, and bf16.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cstdio>
#include <map>

#include "i2v/models/vae/decode_frames.h"
#include "i2v/models/vae/vae_loading.h"
#include "vae/vae_test_util.h"

namespace i2v::vae {
namespace {

using test::vae_golden;
using test::vae_golden_tensor;
using test::vae_report;

constexpr double kFp32Tolerance = 1e-4;         // README: single modules, relative to absmax
constexpr double kFp16WeightsTolerance = 5e-3;  // weights rounded to fp16, compute in fp32
constexpr double kBf16Tolerance = 5e-2;         // bf16 weights and activations

const std::string kEncode = "units/vae_encode.safetensors";
const std::string kDecode = "units/vae_decode.safetensors";
const std::string kRun = "pipeline_run.safetensors";

AutoencoderKL load(at::ScalarType dtype = at::kFloat,
                   weights::VariantMode variant = weights::VariantMode::None) {
  VaeLoadOptions options;
  options.dtype = dtype;
  options.variant = variant;
  return load_autoencoder_kl(test::vae_dir(), options);
}

// Compares every "internal.<stage>" tensor of `file` with the traced stage; each must be traced.
void expect_internals_match(const std::string& file,
                            const std::map<std::string, at::Tensor>& traced) {
  int compared = 0;
  for (const auto& [name, expected] : vae_golden(file)) {
    const std::string prefix = "internal.";
    if (name.rfind(prefix, 0) != 0) continue;
    auto it = traced.find(name.substr(prefix.size()));
    ASSERT_NE(it, traced.end()) << "stage not traced: " << name;
    EXPECT_LT(vae_report(name, it->second, expected), kFp32Tolerance) << name;
    ++compared;
  }
  EXPECT_GE(compared, 5);
}

TEST(VaeGolden, UnitEncodeStageByStageFp32) {
  AutoencoderKL vae = load();
  std::map<std::string, at::Tensor> traced;
  TraceFn fn = [&](const std::string& name, const at::Tensor& t) { traced[name] = t; };
  Posterior p = vae->encode(vae_golden_tensor(kEncode, "in.x"), &fn);
  expect_internals_match(kEncode, traced);
  EXPECT_LT(vae_report("out.mean", p.mean, vae_golden_tensor(kEncode, "out.mean")), kFp32Tolerance);
  EXPECT_LT(vae_report("out.logvar", p.logvar, vae_golden_tensor(kEncode, "out.logvar")),
            kFp32Tolerance);
  EXPECT_LT(vae_report("out.std", p.std, vae_golden_tensor(kEncode, "out.std")), kFp32Tolerance);
}

TEST(VaeGolden, UnitDecodeStageByStageFp32) {
  AutoencoderKL vae = load();
  std::map<std::string, at::Tensor> traced;
  TraceFn fn = [&](const std::string& name, const at::Tensor& t) { traced[name] = t; };
  at::Tensor image = vae->decode(vae_golden_tensor(kDecode, "in.z"), &fn);
  expect_internals_match(kDecode, traced);
  EXPECT_LT(vae_report("out.sample", image, vae_golden_tensor(kDecode, "out.sample")),
            kFp32Tolerance);
}

TEST(VaeGolden, UnitSubmodulesFp32) {
  AutoencoderKL vae = load();
  const std::string down = "units/vae_downsample.safetensors";
  EXPECT_LT(vae_report("encoder.down_blocks.0.downsamplers.0",
                       vae->encoder->down_block_list[0]->downsampler->forward(
                           vae_golden_tensor(down, "in.hidden_states")),
                       vae_golden_tensor(down, "out")),
            kFp32Tolerance);
  const std::string attn = "units/vae_mid_attention.safetensors";
  EXPECT_LT(vae_report("decoder.mid_block.attentions.0",
                       vae->decoder->mid_block->attention->forward(
                           vae_golden_tensor(attn, "in.hidden_states")),
                       vae_golden_tensor(attn, "out")),
            kFp32Tolerance);
  const std::string res = "units/vae_resnet_shortcut.safetensors";
  EXPECT_LT(vae_report("decoder.up_blocks.1.resnets.0",
                       vae->decoder->up_block_list[1]->resnet_list[0]->forward(
                           vae_golden_tensor(res, "in.hidden_states")),
                       vae_golden_tensor(res, "out")),
            kFp32Tolerance);
}

TEST(VaeGolden, PipelinePosteriorFp32) {
  AutoencoderKL vae = load();
  Posterior p = vae->encode(vae_golden_tensor(kRun, "vae_input_image"));
  EXPECT_LT(vae_report("vae_posterior_mean", p.mean, vae_golden_tensor(kRun, "vae_posterior_mean")),
            kFp32Tolerance);
  EXPECT_LT(
      vae_report("vae_posterior_logvar", p.logvar, vae_golden_tensor(kRun, "vae_posterior_logvar")),
      kFp32Tolerance);
  EXPECT_LT(vae_report("vae_posterior_std", p.std, vae_golden_tensor(kRun, "vae_posterior_std")),
            kFp32Tolerance);
  // Frame 0 of the image latents is the scaled posterior sample with the stored noise.
  at::Tensor latent =
      p.sample(vae_golden_tensor(kRun, "vae_posterior_noise")) * vae->config().scaling_factor;
  at::Tensor frame0 = vae_golden_tensor(kRun, "image_latents").select(2, 0).slice(0, 1, 2);
  EXPECT_LT(vae_report("image_latents frame 0", latent, frame0), kFp32Tolerance);
}

TEST(VaeGolden, PipelineDecodedVideoFp32) {
  AutoencoderKL vae = load();
  ASSERT_DOUBLE_EQ(vae->config().scaling_factor, 0.18215);
  at::Tensor z = vae_golden_tensor(kRun, "final_latents") / vae->config().scaling_factor;
  at::Tensor video = decode_frames(*vae, z, /*chunk=*/1);
  EXPECT_FALSE(video.requires_grad());  // loaded for inference: no autograd graph
  EXPECT_LT(vae_report("decoded_video", video, vae_golden_tensor(kRun, "decoded_video")),
            kFp32Tolerance);
}

TEST(VaeGolden, ChunkedDecodeEqualsOneShot) {
  AutoencoderKL vae = load();
  at::Tensor z = vae_golden_tensor(kRun, "final_latents") / vae->config().scaling_factor;
  // Two batch elements so that the b * F + f ordering matters.
  z = at::cat({z, z.flip(2) * 0.5}, 0);
  at::Tensor one_shot = decode_frames(*vae, z, /*chunk=*/8);
  EXPECT_EQ(one_shot.sizes(), (std::vector<int64_t>{2, 3, 4, 48, 80}));
  for (int64_t chunk : {1, 3, 100}) {
    at::Tensor chunked = decode_frames(*vae, z, chunk);
    double diff = (chunked - one_shot).abs().max().item<double>();
    std::printf("    chunk %-3lld vs one-shot: max abs diff %.3g\n", static_cast<long long>(chunk),
                diff);
    EXPECT_LT(diff, 1e-5) << "chunk " << chunk;
  }
  // Frame f of batch b is decode(z[b, :, f]).
  at::Tensor single = vae->decode(z.select(2, 2).slice(0, 1, 2));
  EXPECT_LT((one_shot.select(2, 2).slice(0, 1, 2) - single).abs().max().item<double>(), 1e-5);
}

TEST(VaeGolden, Fp16WeightsLoadedAsFp32) {
  AutoencoderKL vae = load(at::kFloat, weights::VariantMode::Fp16);
  EXPECT_EQ(vae->decoder->conv_out->weight.scalar_type(), at::kFloat);
  Posterior p = vae->encode(vae_golden_tensor(kRun, "vae_input_image"));
  double mean_err = vae_report("vae_posterior_mean, fp16 weights", p.mean,
                               vae_golden_tensor(kRun, "vae_posterior_mean"));
  EXPECT_LT(mean_err, kFp16WeightsTolerance);
  EXPECT_GT(mean_err, 0.0);  // the variant really was read
  at::Tensor z = vae_golden_tensor(kRun, "final_latents") / vae->config().scaling_factor;
  EXPECT_LT(vae_report("decoded_video, fp16 weights", decode_frames(*vae, z),
                       vae_golden_tensor(kRun, "decoded_video")),
            kFp16WeightsTolerance);
}

TEST(VaeGolden, Bf16) {
  AutoencoderKL vae = load(at::kBFloat16);
  EXPECT_EQ(vae->dtype(), at::kBFloat16);
  Posterior p = vae->encode(vae_golden_tensor(kRun, "vae_input_image"));  // cast to bf16
  EXPECT_EQ(p.mean.scalar_type(), at::kBFloat16);
  EXPECT_LT(
      vae_report("vae_posterior_mean, bf16", p.mean, vae_golden_tensor(kRun, "vae_posterior_mean")),
      kBf16Tolerance);
  EXPECT_LT(vae_report("vae_posterior_logvar, bf16", p.logvar,
                       vae_golden_tensor(kRun, "vae_posterior_logvar")),
            kBf16Tolerance);
  at::Tensor z = vae_golden_tensor(kRun, "final_latents") / vae->config().scaling_factor;
  at::Tensor video = decode_frames(*vae, z);
  EXPECT_EQ(video.scalar_type(), at::kBFloat16);
  EXPECT_LT(vae_report("decoded_video, bf16", video, vae_golden_tensor(kRun, "decoded_video")),
            kBf16Tolerance);
  EXPECT_LT(vae_report("unit out.sample, bf16", vae->decode(vae_golden_tensor(kDecode, "in.z")),
                       vae_golden_tensor(kDecode, "out.sample")),
            kBf16Tolerance);
}

}  // namespace
}  // namespace i2v::vae
