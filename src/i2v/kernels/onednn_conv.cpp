#include "i2v/kernels/onednn_conv.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include "i2v/kernels/onednn_gemm.h"

#ifdef I2V_WITH_ONEDNN
#include <dnnl.hpp>

#include "i2v/kernels/onednn_engine.h"
#include "i2v/kernels/packed_weights.h"

#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#endif

namespace i2v::kernels {

#ifdef I2V_WITH_ONEDNN
namespace {

using dnnl::memory;

// Below 8x8 outputs per image the per-call weight reorder and the layout changes cost more than
// they win (4x4: 0.33 TFLOP/s against libtorch's 0.58).
constexpr int64_t kMinPixels = 64;
// With the weight packed once for the whole scope (packed_weights.h).
constexpr int64_t kMinPixelsPacked = 16;

struct Plan {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward conv;
  memory::desc src_given, weights_given;
  dnnl::reorder to_nhwc;  // only when x is NCHW
  dnnl::reorder pack;
};

OnednnPlanCache<Plan> g_plans(512);

std::shared_ptr<Plan> plan_for(const at::Tensor& x, bool x_nchw, const at::Tensor& w,
                               const at::Tensor& bias, int64_t stride, int64_t padding,
                               const memory::dims& out_dims) {
  const bool bias_f32 = bias.defined() && bias.scalar_type() == at::kFloat;
  std::string key;
  for (int64_t d : x.sizes()) key += std::to_string(d) + ",";
  for (int64_t d : w.sizes()) key += std::to_string(d) + ",";
  key += std::to_string(stride) + "," + std::to_string(padding) + (x_nchw ? "n" : "c") +
         (bias.defined() ? (bias_f32 ? "f" : "b") : "-");
  return g_plans.get(key, [&] {
    using dt = memory::data_type;
    using tag = memory::format_tag;
    const memory::dims src_dims(x.sizes().begin(), x.sizes().end());
    const memory::dims w_dims(w.sizes().begin(), w.sizes().end());
    const memory::desc src(src_dims, dt::bf16, tag::nhwc), dst(out_dims, dt::bf16, tag::nhwc);
    const memory::desc weights_any(w_dims, dt::bf16, tag::any);
    auto& engine = onednn_cpu_engine();
    const memory::dims strides{stride, stride}, pad{padding, padding};
    auto desc =
        bias.defined()
            ? dnnl::convolution_forward::desc(
                  dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src,
                  weights_any, memory::desc({w.size(0)}, bias_f32 ? dt::f32 : dt::bf16, tag::a),
                  dst, strides, pad, pad)
            : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                              dnnl::algorithm::convolution_direct, src, weights_any,
                                              dst, strides, pad, pad);
    auto plan = std::make_shared<Plan>();
    plan->pd = dnnl::convolution_forward::primitive_desc(desc, engine);
    plan->conv = dnnl::convolution_forward(plan->pd);
    plan->src_given = memory::desc(src_dims, dt::bf16, x_nchw ? tag::nchw : tag::nhwc);
    if (x_nchw) {
      plan->to_nhwc = dnnl::reorder(
          dnnl::reorder::primitive_desc(engine, plan->src_given, engine, plan->pd.src_desc()));
    }
    plan->weights_given = memory::desc(w_dims, dt::bf16, tag::oihw);
    plan->pack = dnnl::reorder(dnnl::reorder::primitive_desc(engine, plan->weights_given, engine,
                                                             plan->pd.weights_desc()));
    return plan;
  });
}

// Up to this many output pixels per image, a convolution with a kept weight runs as one product
// (conv_as_product). Measured on the AMX Xeon, 2 threads, batch 16, 3x3: 1280 channels at 4x4
// 11.0 -> 5.2 ms (0.69 -> 1.45 TFLOP/s), 2560 -> 1280 at 4x4 22 -> 11.8 ms; at 8x8 the product
// lost (19.5 -> 21.6 ms), so 4x4 and smaller only.
constexpr int64_t kMaxPixelsAsProduct = 16;

// For every output pixel (b, oy, ox) one row of the product: the kh x kw input pixels it sees,
// each its C channels in a run (zeros where the padding is), from x in NHWC memory.
at::Tensor neighbourhood_rows(const at::Tensor& x, int64_t kh, int64_t kw, int64_t stride,
                              int64_t padding, int64_t oh, int64_t ow) {
  const at::Tensor xc = x.contiguous(at::MemoryFormat::ChannelsLast);
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  at::Tensor rows = at::empty({n * oh * ow, kh * kw * c}, x.options());
  const auto* src = static_cast<const uint16_t*>(xc.data_ptr());
  auto* dst = static_cast<uint16_t*>(rows.data_ptr());
  const size_t run = static_cast<size_t>(c) * sizeof(uint16_t);
  at::parallel_for(0, n * oh * ow, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / (oh * ow), oy = r / ow % oh, ox = r % ow;
      uint16_t* out = dst + r * kh * kw * c;
      for (int64_t i = 0; i < kh; ++i) {
        const int64_t y = oy * stride + i - padding;
        for (int64_t j = 0; j < kw; ++j, out += c) {
          const int64_t xx = ox * stride + j - padding;
          if (y < 0 || y >= h || xx < 0 || xx >= w)
            std::memset(out, 0, run);
          else
            std::memcpy(out, src + ((b * h + y) * w + xx) * c, run);
        }
      }
    }
  });
  return rows;
}

// y = conv(x, w) as (input neighbourhoods) x (kernel as rows (O, kh * kw * C)): the kernel's
// rearranged and packed copy is made once and kept under w (onednn_gemm_rearranged). The same
// products and sums as the convolution, accumulated in float32 in another order: equal within
// float32 rounding before the bf16 output.
at::Tensor conv_as_product(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias,
                           int64_t stride, int64_t padding, int64_t oh, int64_t ow) {
  const int64_t n = x.size(0), o = w.size(0), kh = w.size(2), kw = w.size(3);
  const at::Tensor rows = neighbourhood_rows(x, kh, kw, stride, padding, oh, ow);
  at::Tensor y = at::empty({n * oh * ow, o}, x.options());
  const bool done = onednn_gemm_rearranged(
      rows, w, o,
      [&] {
        return w.permute({0, 2, 3, 1}).contiguous().view({o, rows.size(1)});
      },
      bias, y);
  if (!done) return {};
  return y.view({n, oh, ow, o}).permute({0, 3, 1, 2});  // NCHW sizes, channels-last memory
}

}  // namespace

at::Tensor onednn_conv2d(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias,
                         int64_t stride, int64_t padding, bool persistent_weight) {
  if (!onednn_gemm_enabled()) return {};
  auto bf16_cpu_4d = [](const at::Tensor& t) {
    return t.defined() && t.scalar_type() == at::kBFloat16 && t.device().is_cpu() && t.dim() == 4;
  };
  if (!bf16_cpu_4d(x) || !bf16_cpu_4d(w) || !w.is_contiguous() || x.size(1) != w.size(1)) return {};
  if (stride < 1 || padding < 0) return {};
  const bool x_nchw = x.is_contiguous();
  if (!x_nchw && !x.is_contiguous(at::MemoryFormat::ChannelsLast)) return {};
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != w.size(0) || !bias.is_contiguous() ||
                         !bias.device().is_cpu() ||
                         (bias.scalar_type() != at::kBFloat16 && bias.scalar_type() != at::kFloat)))
    return {};
  const int64_t oh = (x.size(2) + 2 * padding - w.size(2)) / stride + 1;
  const int64_t ow = (x.size(3) + 2 * padding - w.size(3)) / stride + 1;
  const bool keep = persistent_weight && packed_weights_open();
  if (oh < 1 || ow < 1 || oh * ow < (keep ? kMinPixelsPacked : kMinPixels)) return {};
  RECORD_FUNCTION("i2v::conv2d", std::vector<c10::IValue>({x, w, stride, padding}));
  if (keep && oh * ow <= kMaxPixelsAsProduct) {
    at::Tensor y = conv_as_product(x, w, bias, stride, padding, oh, ow);
    if (y.defined()) return y;
  }
  try {
    // oneDNN (OpenMP build) runs on this thread's OpenMP team: give a fresh thread (a server
    // worker) libtorch's thread count first, as libtorch's own kernels do.
    at::internal::lazy_init_num_threads();
    const memory::dims out_dims{x.size(0), w.size(0), oh, ow};
    const std::shared_ptr<Plan> plan = plan_for(x, x_nchw, w, bias, stride, padding, out_dims);
    auto& engine = onednn_cpu_engine();
    dnnl::stream stream(engine);
    at::Tensor src_nhwc = x;
    memory src(plan->src_given, engine, const_cast<void*>(x.data_ptr()));
    if (x_nchw) {
      src_nhwc = at::empty(x.sizes(), x.options().memory_format(at::MemoryFormat::ChannelsLast));
      memory converted(plan->pd.src_desc(), engine, src_nhwc.data_ptr());
      plan->to_nhwc.execute(stream, src, converted);
      src = converted;
    }
    const memory::desc& packed_desc = plan->pd.weights_desc();
    const at::Tensor packed =
        packed_weight(w, keep, plan->weights_given, packed_desc, plan->pack, stream);
    memory w_packed(packed_desc, engine, packed.data_ptr());
    at::Tensor y = at::empty({x.size(0), w.size(0), oh, ow},
                             x.options().memory_format(at::MemoryFormat::ChannelsLast));
    memory dst(plan->pd.dst_desc(), engine, y.data_ptr());
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w_packed}, {DNNL_ARG_DST, dst}};
    if (bias.defined()) {
      args.emplace(DNNL_ARG_BIAS,
                   memory(plan->pd.bias_desc(), engine, const_cast<void*>(bias.data_ptr())));
    }
    plan->conv.execute(stream, args);
    stream.wait();
    return y;
  } catch (const dnnl::error&) {
    return {};
  }
}

#else  // built without oneDNN

at::Tensor onednn_conv2d(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t, int64_t,
                         bool) {
  return {};
}

#endif

}  // namespace i2v::kernels
