// DDIMScheduler against the reference: the golden unit tables and single steps, and the four
// scheduler steps of the golden pipeline run (in the pipeline's (B*F, C, h, w) layout).
#include <gtest/gtest.h>

#include "i2v/error.h"
#include "i2v/io/safetensors.h"
#include "i2v/schedulers/ddim_scheduler.h"
#include "support/test_support.h"

namespace i2v::schedulers {
namespace {

using weights::DDIMSchedulerConfig;

DDIMSchedulerConfig golden_config() {
  return DDIMSchedulerConfig::load(test::golden_pipeline() / "scheduler" / "scheduler_config.json");
}

std::vector<int64_t> to_vector(const at::Tensor& t) {
  at::Tensor c = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

TEST(DDIMScheduler, TablesEqualTheReference) {
  auto golden =
      io::load_safetensors(test::golden_dir() / "golden/units/ddim_scheduler.safetensors");
  DDIMScheduler s(golden_config());
  EXPECT_LE(
      max_abs_diff(DDIMScheduler::betas_for_alpha_bar(1000), golden.at("betas_squaredcos_raw")),
      1e-7);
  EXPECT_LE(max_abs_diff(s.betas(), golden.at("betas")), 1e-6);
  EXPECT_LE(max_abs_diff(s.alphas_cumprod(), golden.at("alphas_cumprod")), 1e-6);
  EXPECT_EQ(s.alphas_cumprod()[-1].item<float>(), 0.0f);  // zero terminal SNR
  for (int n : {4, 25, 50}) {
    s.set_timesteps(n);
    EXPECT_EQ(s.timesteps(), to_vector(golden.at("timesteps_" + std::to_string(n)))) << n;
  }
}

TEST(DDIMScheduler, SingleStepsEqualTheReference) {
  auto golden =
      io::load_safetensors(test::golden_dir() / "golden/units/ddim_scheduler.safetensors");
  DDIMScheduler s(golden_config());
  s.set_timesteps(4);
  for (int i = 0; i < 4; ++i) {
    std::string p = "step" + std::to_string(i) + ".";
    int64_t t = golden.at(p + "t").item<int64_t>();
    auto out = s.step(golden.at(p + "model_output"), t, golden.at(p + "sample"));
    EXPECT_LE(max_abs_diff(out.pred_original_sample, golden.at(p + "pred_original_sample")), 1e-5)
        << p;
    EXPECT_LE(max_abs_diff(out.prev_sample, golden.at(p + "prev_sample")), 1e-5) << p;
  }
}

TEST(DDIMScheduler, PipelineRunStepsEqualTheReference) {
  auto run = io::load_safetensors(test::golden_dir() / "golden/pipeline_run.safetensors");
  DDIMScheduler s(golden_config());
  s.set_timesteps(4);
  EXPECT_EQ(s.timesteps(), to_vector(run.at("timesteps")));
  EXPECT_LE(max_abs_diff(s.alphas_cumprod(), run.at("alphas_cumprod")), 1e-6);
  for (int i = 0; i < 4; ++i) {
    std::string p = "step" + std::to_string(i) + ".";
    at::Tensor latents = run.at(p + "latents");  // (B, C, F, h, w)
    int64_t B = latents.size(0), C = latents.size(1), F = latents.size(2);
    int64_t h = latents.size(3), w = latents.size(4);
    auto frames = [&](const at::Tensor& x) {
      return x.permute({0, 2, 1, 3, 4}).reshape({B * F, C, h, w});
    };
    int64_t t = run.at(p + "timestep").item<int64_t>();
    EXPECT_EQ(t, s.timesteps()[static_cast<size_t>(i)]);
    auto out = s.step(frames(run.at(p + "noise_pred")), t, frames(latents));
    EXPECT_LE(max_abs_diff(out.pred_original_sample, run.at(p + "pred_original_sample")), 1e-5);
    at::Tensor back = out.prev_sample.reshape({B, F, C, h, w}).permute({0, 2, 1, 3, 4});
    EXPECT_LE(max_abs_diff(back, run.at(p + "latents_out")), 1e-5) << p;
  }
}

TEST(DDIMScheduler, SpacingsAndScheduleVariants) {
  DDIMSchedulerConfig c;  // diffusers defaults: linear betas, leading, offset 0
  DDIMScheduler lin(c);
  EXPECT_NEAR(lin.betas()[0].item<float>(), 1e-4, 1e-9);
  EXPECT_NEAR(lin.betas()[-1].item<float>(), 0.02, 1e-7);
  lin.set_timesteps(10);
  EXPECT_EQ(lin.timesteps(),
            (std::vector<int64_t>{900, 800, 700, 600, 500, 400, 300, 200, 100, 0}));
  c.timestep_spacing = "trailing";
  DDIMScheduler trailing(c);
  trailing.set_timesteps(10);
  EXPECT_EQ(trailing.timesteps(),
            (std::vector<int64_t>{999, 899, 799, 699, 599, 499, 399, 299, 199, 99}));
  c.timestep_spacing = "linspace";
  DDIMScheduler linspace(c);
  linspace.set_timesteps(4);
  EXPECT_EQ(linspace.timesteps(), (std::vector<int64_t>{999, 666, 333, 0}));
  c.beta_schedule = "scaled_linear";
  DDIMScheduler scaled(c);
  EXPECT_NEAR(scaled.betas()[-1].item<float>(), 0.02, 1e-7);
  EXPECT_NEAR(scaled.betas()[500].item<double>(),
              std::pow(std::sqrt(1e-4) + (std::sqrt(0.02) - std::sqrt(1e-4)) * 500 / 999, 2), 1e-8);
}

TEST(DDIMScheduler, EpsilonAndSamplePredictionsAreConsistent) {
  // With eta 0, an epsilon model that outputs the true noise recovers x0 exactly.
  DDIMSchedulerConfig c;
  c.clip_sample = false;
  DDIMScheduler s(c);
  s.set_timesteps(10);
  at::Tensor x0 = at::randn({2, 4, 3, 3}), eps = at::randn({2, 4, 3, 3});
  int64_t t = s.timesteps()[2];
  at::Tensor a = s.alphas_cumprod()[t];
  at::Tensor xt = a.sqrt() * x0 + (1 - a).sqrt() * eps;
  auto out = s.step(eps, t, xt);
  EXPECT_LE(max_abs_diff(out.pred_original_sample, x0), 1e-4);
  c.prediction_type = "sample";
  DDIMScheduler ss(c);
  ss.set_timesteps(10);
  auto out2 = ss.step(x0, t, xt);
  EXPECT_LE(max_abs_diff(out2.prev_sample, out.prev_sample), 1e-4);
}

TEST(DDIMScheduler, BadParametersAreClearErrors) {
  DDIMScheduler s(golden_config());
  EXPECT_THROW(s.set_timesteps(0), ConfigError);
  EXPECT_THROW(s.set_timesteps(1001), ConfigError);
  s.set_timesteps(4);
  at::Tensor x = at::zeros({1, 4, 2, 2});
  EXPECT_THROW(s.step(x, 1000, x), ConfigError);
  EXPECT_THROW(s.step(x, 751, at::zeros({1, 4, 2, 3})), ShapeError);
  EXPECT_THROW(s.step(x, 751, x, /*eta=*/1.0), ConfigError);  // eta > 0 without noise
  DDIMSchedulerConfig c;
  c.beta_schedule = "exotic";
  EXPECT_THROW(DDIMScheduler{c}, ConfigError);
}

}  // namespace
}  // namespace i2v::schedulers
