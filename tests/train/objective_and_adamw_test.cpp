// The training objective against diffusers' formulas written out in float64, and AdamW against
// torch.optim.AdamW's update written out by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "i2v/error.h"
#include "i2v/train/adamw.h"
#include "i2v/train/diffusion_objective.h"

namespace i2v::train {
namespace {

TEST(DiffusionObjective, VelocityEpsilonAndSampleTargets) {
  const at::Tensor acp = at::linspace(0.999, 0.01, 1000, at::kDouble);
  const at::Tensor x0 = at::randn({1, 4, 3, 2, 2}, at::kDouble);
  const at::Tensor noise = at::randn({1, 4, 3, 2, 2}, at::kDouble);
  for (int64_t t : {0, 321, 999}) {
    const double a = acp[t].item<double>();
    const at::Tensor noisy = std::sqrt(a) * x0 + std::sqrt(1 - a) * noise;
    const at::Tensor v = std::sqrt(a) * noise - std::sqrt(1 - a) * x0;  // get_velocity
    const NoisedSample s = DiffusionObjective(acp, "v_prediction").noise(x0, noise, t);
    EXPECT_EQ(s.noisy.scalar_type(), at::kFloat);
    EXPECT_LT((s.noisy.to(at::kDouble) - noisy).abs().max().item<double>(), 1e-6);
    EXPECT_LT((s.target.to(at::kDouble) - v).abs().max().item<double>(), 1e-6);
    EXPECT_LT(
        (DiffusionObjective(acp, "epsilon").noise(x0, noise, t).target.to(at::kDouble) - noise)
            .abs()
            .max()
            .item<double>(),
        1e-6);
    EXPECT_LT((DiffusionObjective(acp, "sample").noise(x0, noise, t).target.to(at::kDouble) - x0)
                  .abs()
                  .max()
                  .item<double>(),
              1e-6);
  }
  const DiffusionObjective v(acp, "v_prediction");
  EXPECT_THROW(v.noise(x0, noise, 1000), ConfigError);
  EXPECT_THROW(v.noise(x0, noise.narrow(2, 0, 1), 3), ShapeError);
  EXPECT_THROW(DiffusionObjective(acp, "flow"), ConfigError);
}

TEST(AdamW, MatchesTheDecoupledUpdateWrittenOut) {
  const AdamWOptions o{0.01, 0.9, 0.99, 1e-8, 0.1};
  at::Tensor p = at::tensor({0.5f, -1.0f, 2.0f});
  AdamW opt({p}, o);
  const std::vector<std::vector<double>> grads = {{0.1, -0.2, 0.3}, {-0.4, 0.0, 0.2}, {1, 1, -1}};
  std::vector<double> ref = {0.5, -1.0, 2.0}, m(3, 0), v(3, 0);
  for (size_t t = 1; t <= grads.size(); ++t) {
    opt.step({at::tensor(std::vector<float>(grads[t - 1].begin(), grads[t - 1].end()))});
    for (int i = 0; i < 3; ++i) {
      const double g = grads[t - 1][i];
      ref[i] *= 1 - o.lr * o.weight_decay;
      m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
      v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
      const double mh = m[i] / (1 - std::pow(o.beta1, t)), vh = v[i] / (1 - std::pow(o.beta2, t));
      ref[i] -= o.lr * mh / (std::sqrt(vh) + o.eps);
    }
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(p[i].item<double>(), ref[i], 1e-6) << "step " << t;
  }
  EXPECT_EQ(opt.steps_done(), 3);
  // Restored state continues identically.
  at::Tensor q = p.clone();
  AdamW copy({q}, o);
  copy.restore(opt.steps_done(), opt.first_moments(), opt.second_moments());
  opt.step({at::tensor({0.3f, 0.2f, 0.1f})});
  copy.step({at::tensor({0.3f, 0.2f, 0.1f})});
  EXPECT_TRUE(at::equal(p, q));
  EXPECT_THROW(copy.restore(1, {at::zeros({2})}, {at::zeros({2})}), ShapeError);
}

}  // namespace
}  // namespace i2v::train
