// Manual timing (disabled by default): decoding 8 frames of 256x256 (latents 32x32) with the
// official config and random weights, fp32 and bf16, one frame per decode call and all at once.
// Run: test_vae --gtest_also_run_disabled_tests --gtest_filter='*Timing*'
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>

#include "i2v/models/vae/decode_frames.h"
#include "vae/vae_test_util.h"

namespace i2v::vae {
namespace {

double seconds_to_decode(AutoencoderKLImpl& vae, const at::Tensor& z, int64_t chunk) {
  at::NoGradGuard no_grad;
  auto start = std::chrono::steady_clock::now();
  at::Tensor video = decode_frames(vae, z, chunk);
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(video.size(2), z.size(2));
  EXPECT_EQ(video.size(3), 256);
  EXPECT_TRUE(video.isfinite().all().item<bool>());
  return elapsed.count();
}

TEST(VaeTiming, DISABLED_DecodeEightFrames256Official) {
  at::manual_seed(0);
  AutoencoderKL vae(VaeConfig::from_file(test::official_vae_config()));  // default random init
  vae->eval();
  at::Tensor z = at::randn({1, 4, 8, 32, 32});
  std::printf("    threads: %d\n", at::get_num_threads());
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    vae->to(dtype);
    seconds_to_decode(*vae, z.slice(2, 0, 1), 1);  // warm-up
    for (int64_t chunk : {1, 8})
      std::printf("    %-8s chunk %lld: %.2f s for 8 frames\n",
                  dtype == at::kFloat ? "fp32" : "bf16", static_cast<long long>(chunk),
                  seconds_to_decode(*vae, z, chunk));
  }
}

}  // namespace
}  // namespace i2v::vae
