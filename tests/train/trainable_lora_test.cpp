// One training step on the golden tiny UNet (float32) against a reference written with plain
// libtorch autograd: the LoRA merged into the weights (W + scale·B·A, the definition of the
// adapter) on the UNet's plain path, the v target written out, MSE. Compares the loss and the
// gradients of every A and B, with and without gradient checkpointing.
#include <gtest/gtest.h>

#include <torch/autograd.h>

#include "i2v/error.h"
#include "i2v/io/safetensors.h"
#include "i2v/lora/trainable_adapters.h"
#include "i2v/models/unet/unet_loading.h"
#include "i2v/train/diffusion_objective.h"
#include "i2v/train/trainable_lora.h"
#include "i2v/weights/model_dir.h"
#include "support/test_support.h"

namespace i2v::train {
namespace {

unet::I2VGenXLUNet golden_unet() {
  unet::UNetLoadOptions o;
  o.keep_stored_dtype = false;
  return unet::load_i2vgen_xl_unet(weights::ModelDir::open(test::golden_pipeline().string()), o)
      .unet;
}

TrainingExample example() {
  at::Generator g = at::detail::createCPUGenerator(5);
  TrainingExample e;
  e.latents = at::randn({1, 4, 3, 8, 8}, g);
  e.image_latents = at::randn({1, 4, 3, 8, 8}, g);
  e.image_embeddings = at::randn({1, 1, 32}, g);
  e.text_embeddings = at::randn({1, 77, 32}, g);
  e.fps = 16;
  return e;
}

double max_rel(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-30);
}

TEST(TrainableLora, OneStepEqualsTheMergedWeightReference) {
  const TrainingExample e = example();
  const int64_t t = 613;
  const double a = 0.37;  // alphas_cumprod[t] of some schedule
  const at::Tensor noise = at::randn({1, 4, 3, 8, 8}, at::detail::createCPUGenerator(6));
  const at::Tensor noisy = std::sqrt(a) * e.latents + std::sqrt(1 - a) * noise;
  const at::Tensor v = std::sqrt(a) * noise - std::sqrt(1 - a) * e.latents;

  std::vector<std::string> modules;
  std::vector<at::Tensor> values;  // A, B as trained
  LossAndGradients plain, checkpointed, high_res;
  {
    TrainableLora lora(golden_unet(), {"to_q", "to_k", "to_v", "to_out.0"}, 4, 8, 1, at::kFloat);
    ASSERT_GT(lora.modules().size(), 30u);
    EXPECT_EQ(lora.parameters().size(), 2 * lora.modules().size());
    // B starts at zero (the base model): give it values so that A has gradients too.
    at::Generator g = at::detail::createCPUGenerator(2);
    {
      at::NoGradGuard no_grad;
      for (size_t i = 1; i < lora.parameters().size(); i += 2)
        lora.parameters()[i].copy_(at::randn(lora.parameters()[i].sizes(), g) * 0.05);
    }
    plain = lora.loss_and_gradients(e, noisy, t, v, false);
    checkpointed = lora.loss_and_gradients(e, noisy, t, v, true);
    // Only the layers at the latents' 8x8: the first level's.
    high_res = lora.loss_and_gradients(e, noisy, t, v, true, 8 * 8);
    modules = lora.modules();
    for (const auto& p : lora.parameters()) values.push_back(p.detach().clone());
  }
  // The reference: a fresh UNet, each adapter as W + 2·B·A (alpha 8 / rank 4) in the weight.
  unet::I2VGenXLUNet ref = golden_unet();
  for (auto& p : ref->parameters()) p.requires_grad_(false);
  auto named = ref->named_parameters(true);
  std::vector<at::Tensor> params;
  for (size_t i = 0; i < modules.size(); ++i) {
    lora::TrainableAdapter ad;
    ad.down = values[2 * i].clone().requires_grad_();
    ad.up = values[2 * i + 1].clone().requires_grad_();
    ad.scale = 2.0;
    ad.weight_form = true;
    params.push_back(ad.down);
    params.push_back(ad.up);
    lora::attach_trainable(named[modules[i] + ".weight"], ad);
  }
  const at::TensorOptions longs = at::TensorOptions().dtype(at::kLong);
  const at::Tensor loss =
      at::mse_loss(ref->forward({noisy, at::scalar_tensor(t, longs), at::full({1}, 16, longs),
                                 e.image_latents, e.image_embeddings, e.text_embeddings}),
                   v);
  const auto grads = torch::autograd::grad({loss}, params);
  for (const auto& m : modules) lora::detach_trainable(named[m + ".weight"]);

  EXPECT_NEAR(plain.loss, loss.item<double>(), 1e-6 * loss.item<double>());
  // The checkpointed forward runs without a graph, on the fused kernels (float rounding apart).
  EXPECT_NEAR(checkpointed.loss, plain.loss, 1e-6 * plain.loss);
  EXPECT_NEAR(high_res.loss, plain.loss, 1e-6 * plain.loss);
  double worst = 0, worst_ckpt = 0, worst_high = 0;
  for (size_t i = 0; i < grads.size(); ++i) {
    worst = std::max(worst, max_rel(plain.gradients[i], grads[i]));
    worst_ckpt = std::max(worst_ckpt, max_rel(checkpointed.gradients[i], plain.gradients[i]));
    worst_high = std::max(worst_high, max_rel(high_res.gradients[i], plain.gradients[i]));
    EXPECT_GT(grads[i].abs().max().item<double>(), 0) << modules[i / 2];
  }
  std::printf(
      "loss %.6f (reference %.6f); gradients: max rel. error vs reference %.2e, "
      "checkpointed vs plain %.2e (high-res layers only %.2e)\n",
      plain.loss, loss.item<double>(), worst, worst_ckpt, worst_high);
  EXPECT_LT(worst, 1e-4);
  EXPECT_LT(worst_ckpt, 2e-5);
  EXPECT_LT(worst_high, 2e-5);
  for (const auto& p : ref->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(TrainableLora, StartsAtTheBaseModelAndSavesPeftTensors) {
  TrainableLora lora(golden_unet(), {"to_q", "to_v"}, 2, 4, 0, at::kFloat);
  for (size_t i = 1; i < lora.parameters().size(); i += 2)
    EXPECT_EQ(lora.parameters()[i].abs().max().item<double>(), 0);  // B = 0
  const auto tensors = lora.peft_tensors();
  ASSERT_EQ(tensors.size(), 3 * lora.modules().size());
  EXPECT_EQ(tensors[0].first, "unet." + lora.modules()[0] + ".lora_A.weight");
  EXPECT_EQ(tensors[2].second.item<double>(), 4.0);
  // A second instance takes the saved values; other ranks are refused.
  std::map<std::string, at::Tensor> saved(tensors.begin(), tensors.end());
  TrainableLora again(golden_unet(), {"to_q", "to_v"}, 2, 4, 99, at::kFloat);
  again.load_peft_tensors(saved);
  EXPECT_TRUE(at::equal(again.parameters()[0], lora.parameters()[0]));
}

TEST(TrainableLora, BadTargetsAreClearErrors) {
  EXPECT_THROW(TrainableLora(golden_unet(), {"to_q", "nonexistent"}, 2, 2, 0, at::kFloat),
               ConfigError);
  EXPECT_THROW(TrainableLora(golden_unet(), {"conv1"}, 2, 2, 0, at::kFloat), ConfigError);
  EXPECT_THROW(TrainableLora(golden_unet(), {"to_q"}, 0, 2, 0, at::kFloat), ConfigError);
}

}  // namespace
}  // namespace i2v::train
