// Is an int8 compute path worth it on this CPU? Times oneDNN's bf16 matmul (what i2v runs) against
// its int8 matmul (s8 x s8 -> f32 with per-channel weight scales, VNNI) on the UNet's linear
// shapes, both with prepacked weights, and the int8 path end to end: per-token (row) dynamic
// quantization of the bf16 activations, the product, the row scales, back to bf16. Prints one
// JSON line per shape with times and the relative RMS error of each path against float64.
//   build/bin/i2v_bench_int8_matmul [runs]      (2 threads: OMP_NUM_THREADS / at::set_num_threads)
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dnnl.hpp>

#include <cstdio>
#include <cstdlib>
#include <unordered_map>

#include "bench_timing.h"

using dnnl::memory;
using dt = memory::data_type;

namespace {

double rel_rms(const at::Tensor& y, const at::Tensor& ref) {
  return ((y.to(at::kDouble) - ref).norm() / ref.norm()).item<double>();
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 5;
  at::set_num_threads(2);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  // (rows, in, out): 32x32 level attention / ff, 16x16, 8x8 (batch 2 x 8 frames).
  const int64_t shapes[][3] = {{16384, 320, 320},  {16384, 320, 2560}, {16384, 1280, 320},
                               {4096, 640, 640},   {4096, 640, 5120},  {1024, 1280, 1280},
                               {1024, 1280, 10240}};
  for (const auto& s : shapes) {
    const int64_t m = s[0], k = s[1], n = s[2];
    at::manual_seed(0);
    const at::Tensor x = at::randn({m, k}).to(at::kBFloat16);
    const at::Tensor w = (at::randn({n, k}) * 0.05).to(at::kBFloat16);
    const at::Tensor ref = at::mm(x.to(at::kDouble), w.to(at::kDouble).t());

    // bf16: weights packed once (the fair best case for both paths).
    const memory::desc xb({m, k}, dt::bf16, memory::format_tag::ab);
    const memory::desc yb({m, n}, dt::bf16, memory::format_tag::ab);
    const memory::desc wb_plain({k, n}, dt::bf16, memory::format_tag::ba);
    dnnl::matmul::primitive_desc bpd(
        dnnl::matmul::desc(xb, memory::desc({k, n}, dt::bf16, memory::format_tag::any), yb),
        engine);
    memory wb_packed(bpd.weights_desc(), engine);
    memory wb_src(wb_plain, engine, w.data_ptr());
    dnnl::reorder(wb_src, wb_packed).execute(stream, wb_src, wb_packed);
    at::Tensor yb_t = at::empty({m, n}, at::kBFloat16);
    dnnl::matmul bmm(bpd);
    const double t_bf16 = seconds_per_call(
        [&] {
          bmm.execute(stream, {{DNNL_ARG_SRC, memory(xb, engine, x.data_ptr())},
                               {DNNL_ARG_WEIGHTS, wb_packed},
                               {DNNL_ARG_DST, memory(yb, engine, yb_t.data_ptr())}});
        },
        runs);

    // int8: per-channel weight scales, per-row activation scales (dynamic).
    const at::Tensor wf = w.to(at::kFloat);
    const at::Tensor sw = wf.abs().amax(1) / 127;
    const at::Tensor wq = (wf / sw.unsqueeze(1)).round().clamp(-127, 127).to(at::kChar);
    const memory::desc xq_d({m, k}, dt::s8, memory::format_tag::ab);
    const memory::desc yf_d({m, n}, dt::f32, memory::format_tag::ab);
    const memory::desc wq_plain({k, n}, dt::s8, memory::format_tag::ba);
    dnnl::primitive_attr attr;
    attr.set_output_scales(1 << 1, {DNNL_RUNTIME_F32_VAL});
    dnnl::matmul::primitive_desc qpd(
        dnnl::matmul::desc(xq_d, memory::desc({k, n}, dt::s8, memory::format_tag::any), yf_d), attr,
        engine);
    memory wq_packed(qpd.weights_desc(), engine);
    memory wq_src(wq_plain, engine, wq.data_ptr());
    dnnl::reorder(wq_src, wq_packed).execute(stream, wq_src, wq_packed);
    dnnl::matmul qmm(qpd);
    at::Tensor sw_c = sw.contiguous();
    at::Tensor xq, sx, yf = at::empty({m, n}, at::kFloat), yq;
    auto quantize_x = [&] {
      const at::Tensor xf = x.to(at::kFloat);
      sx = xf.abs().amax(1, true).clamp_min(1e-12) / 127;
      xq = (xf / sx).round().to(at::kChar);
    };
    auto product = [&] {
      qmm.execute(stream,
                  {{DNNL_ARG_SRC, memory(xq_d, engine, xq.data_ptr())},
                   {DNNL_ARG_WEIGHTS, wq_packed},
                   {DNNL_ARG_DST, memory(yf_d, engine, yf.data_ptr())},
                   {DNNL_ARG_ATTR_OUTPUT_SCALES,
                    memory({{n}, dt::f32, memory::format_tag::a}, engine, sw_c.data_ptr())}});
    };
    quantize_x();
    const double t_int8_gemm = seconds_per_call(product, runs);
    const double t_int8_all = seconds_per_call(
        [&] {
          quantize_x();
          product();
          yq = (yf * sx).to(at::kBFloat16);
        },
        runs);
    const double flop = 2.0 * m * k * n;
    std::printf(
        "{\"m\": %lld, \"k\": %lld, \"n\": %lld, \"bf16_ms\": %.2f, \"bf16_tflops\": %.3f, "
        "\"int8_gemm_ms\": %.2f, \"int8_gemm_tops\": %.3f, \"int8_end_to_end_ms\": %.2f, "
        "\"speedup_gemm\": %.2f, \"speedup_end_to_end\": %.2f, \"bf16_rel_rms\": %.2e, "
        "\"int8_rel_rms\": %.2e}\n",
        static_cast<long long>(m), static_cast<long long>(k), static_cast<long long>(n),
        t_bf16 * 1e3, flop / t_bf16 / 1e12, t_int8_gemm * 1e3, flop / t_int8_gemm / 1e12,
        t_int8_all * 1e3, t_bf16 / t_int8_gemm, t_bf16 / t_int8_all, rel_rms(yb_t, ref),
        rel_rms(yq, ref));
  }
  return 0;
}
