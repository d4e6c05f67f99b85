// The UNet's attention shapes, three ways, in one process: libtorch's bmm + softmax chain in bf16
// (what diffusers runs), i2v's plain path (bmm, one-pass float32 softmax, bmm) and the blocked
// oneDNN kernel (kernels/onednn_attention.h). Prints one JSON line per shape with the seconds per
// call of each and the max relative error of each against float64.
//   build/bin/i2v_bench_attention [runs]      (2 threads unless OMP_NUM_THREADS says otherwise)
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "bench_timing.h"
#include "i2v/kernels/onednn_attention.h"
#include "i2v/kernels/softmax.h"

namespace {

double max_rel(const at::Tensor& y, const at::Tensor& ref) {
  return (y.to(at::kDouble) - ref).abs().max().item<double>() / ref.abs().max().item<double>();
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 5;
  if (!std::getenv("OMP_NUM_THREADS")) at::set_num_threads(2);
  struct Shape {
    int64_t n, heads, lq, lk, d;
  };
  // Spatial self-attention at 32x32 latents, its cross-attention (77 text + 68 image tokens),
  // temporal attention over 8 frames, and the second level's self-attention.
  const Shape shapes[] = {
      {16, 5, 1024, 1024, 64}, {16, 5, 1024, 145, 64}, {2048, 5, 8, 8, 64}, {16, 10, 256, 256, 64}};
  for (const Shape& s : shapes) {
    at::manual_seed(0);
    // (N, L, H, d) projections seen as (N, H, L, d), as the attention layer hands them over.
    auto make = [&](int64_t l) {
      return at::randn({s.n, l, s.heads, s.d}).to(at::kBFloat16).transpose(1, 2);
    };
    const at::Tensor q = make(s.lq), k = make(s.lk), v = make(s.lk);
    const double scale = 1.0 / std::sqrt(static_cast<double>(s.d));
    const at::Tensor ref = at::matmul(
        at::softmax(at::matmul(q.to(at::kDouble), k.to(at::kDouble).transpose(-1, -2)) * scale, -1),
        v.to(at::kDouble));
    at::Tensor y_torch, y_plain, y_fused;
    const at::Tensor q3 = q.reshape({-1, s.lq, s.d}), k3 = k.reshape({-1, s.lk, s.d}),
                     v3 = v.reshape({-1, s.lk, s.d});
    const double t_torch = seconds_per_call(
        [&] {
          at::Tensor scores =
              at::bmm(q.reshape({-1, s.lq, s.d}), k.reshape({-1, s.lk, s.d}).transpose(1, 2)) *
              scale;
          y_torch = at::bmm(at::softmax(scores, -1), v.reshape({-1, s.lk, s.d}))
                        .view({s.n, s.heads, s.lq, s.d});
        },
        runs);
    const double t_plain = seconds_per_call(
        [&] {
          at::Tensor scores =
              at::bmm(q.reshape({-1, s.lq, s.d}), k.reshape({-1, s.lk, s.d}).transpose(1, 2));
          y_plain = at::bmm(i2v::kernels::scaled_softmax(scores, scale, at::kBFloat16),
                            v.reshape({-1, s.lk, s.d}))
                        .view({s.n, s.heads, s.lq, s.d});
        },
        runs);
    double t_fused = -1;
    if (i2v::kernels::onednn_attention_enabled()) {
      t_fused =
          seconds_per_call([&] { y_fused = i2v::kernels::onednn_attention(q, k, v, scale); }, runs);
    }
    const double flops = 4.0 * s.n * s.heads * s.lq * s.lk * s.d;
    std::printf(
        "{\"shape\": [%ld, %ld, %ld, %ld, %ld], \"gflop\": %.2f, \"torch_s\": %.5f, "
        "\"plain_s\": %.5f, \"fused_s\": %.5f, \"err_torch\": %.2e, \"err_plain\": %.2e, "
        "\"err_fused\": %.2e}\n",
        static_cast<long>(s.n), static_cast<long>(s.heads), static_cast<long>(s.lq),
        static_cast<long>(s.lk), static_cast<long>(s.d), flops / 1e9, t_torch, t_plain, t_fused,
        max_rel(y_torch, ref), max_rel(y_plain, ref),
        y_fused.defined() ? max_rel(y_fused, ref) : -1.0);
  }
  return 0;
}
