#include "i2v/kernels/onednn_gemm.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <cstdlib>
#include <functional>
#include <string>

#include "i2v/error.h"

#ifdef I2V_WITH_ONEDNN
#include <dnnl.hpp>

#include "i2v/kernels/onednn_engine.h"
#include "i2v/kernels/packed_weights.h"

#include <memory>
#include <unordered_map>
#endif

namespace i2v::kernels {

#ifdef I2V_WITH_ONEDNN
namespace {

// Below this many rows the per-call weight reorder costs more than libtorch's plain-layout gemm
// gives away (measured: M = 1024, K = 1280, N = 10240 still gains; 77-token context k/v lose).
constexpr int64_t kMinRows = 256;
// With the weight packed once for the whole scope, only the primitive's own overhead is left.
constexpr int64_t kMinRowsPacked = 16;

using dnnl::memory;

// Everything that depends only on the shapes and layouts: built once, reused every step.
struct Plan {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul matmul;
  memory::desc weights_plain;  // w as given: (K, N) with its strides
  dnnl::reorder pack;          // plain -> the layout pd wants
};

OnednnPlanCache<Plan> g_plans(512);

memory::dims strides2(int64_t row, int64_t col) {
  return {row, col};
}

// w: (n, k) with strides (w_row, w_col).
std::shared_ptr<Plan> plan_for(const at::Tensor& x, int64_t n, int64_t w_row, int64_t w_col,
                               const at::Tensor& bias, const at::Tensor& out, bool accumulate) {
  const int64_t m = x.size(0), k = x.size(1);
  const bool bias_f32 = bias.defined() && bias.scalar_type() == at::kFloat;
  const std::string key = std::to_string(m) + "," + std::to_string(k) + "," + std::to_string(n) +
                          "," + std::to_string(x.stride(0)) + "," + std::to_string(out.stride(0)) +
                          "," + std::to_string(w_row) + "," + std::to_string(w_col) + "," +
                          (bias.defined() ? (bias_f32 ? "f" : "b") : "-") +
                          (accumulate ? "+" : "=");
  return g_plans.get(key, [&] {
    using dt = memory::data_type;
    const memory::desc src({m, k}, dt::bf16, strides2(x.stride(0), 1));
    const memory::desc dst({m, n}, dt::bf16, strides2(out.stride(0), 1));
    const memory::desc weights_any({k, n}, dt::bf16, memory::format_tag::any);
    const memory::desc weights_plain({k, n}, dt::bf16, strides2(w_col, w_row));
    dnnl::primitive_attr attr;
    if (accumulate) {
      dnnl::post_ops ops;
      ops.append_sum(1.0f);
      attr.set_post_ops(ops);
    }
    auto& engine = onednn_cpu_engine();
    dnnl::matmul::desc desc =
        bias.defined()
            ? dnnl::matmul::desc(
                  src, weights_any,
                  memory::desc({1, n}, bias_f32 ? dt::f32 : dt::bf16, memory::format_tag::ab), dst)
            : dnnl::matmul::desc(src, weights_any, dst);
    auto plan = std::make_shared<Plan>();
    plan->pd = dnnl::matmul::primitive_desc(desc, attr, engine);
    plan->matmul = dnnl::matmul(plan->pd);
    plan->weights_plain = weights_plain;
    plan->pack = dnnl::reorder(
        dnnl::reorder::primitive_desc(engine, weights_plain, engine, plan->pd.weights_desc()));
    return plan;
  });
}

bool env_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("I2V_ONEDNN");
    return !(v && std::string(v) == "0");
  }();
  return on;
}

}  // namespace

bool onednn_gemm_enabled() {
  return env_enabled();
}

namespace {

bool bf16_cpu_2d(const at::Tensor& t) {
  return t.defined() && t.scalar_type() == at::kBFloat16 && t.device().is_cpu() && t.dim() == 2;
}

// The checks both entry points share: x (m, k) and out (m, n) row-major with unit column
// stride, a usable bias, enough rows.
bool qualifies(const at::Tensor& x, int64_t n, const at::Tensor& bias, const at::Tensor& out,
               bool keep) {
  if (!env_enabled() || !bf16_cpu_2d(x) || !bf16_cpu_2d(out)) return false;
  const int64_t m = x.size(0), k = x.size(1);
  if (m < (keep ? kMinRowsPacked : kMinRows) || out.size(0) != m || out.size(1) != n) return false;
  if (x.stride(1) != 1 || out.stride(1) != 1 || x.stride(0) < k || out.stride(0) < n) return false;
  return !bias.defined() ||
         (bias.dim() == 1 && bias.size(0) == n && bias.is_contiguous() && bias.device().is_cpu() &&
          (bias.scalar_type() == at::kBFloat16 || bias.scalar_type() == at::kFloat));
}

// out (+)= x . w^T (+ bias), w (n, k) with strides (w_row, w_col): `key` is w itself, or the
// weight that source() rearranges into w (packed_weight).
bool run(const at::Tensor& x, const at::Tensor& key, int64_t n, int64_t w_row, int64_t w_col,
         const std::function<at::Tensor()>& source, bool keep, const at::Tensor& bias,
         at::Tensor& out, bool accumulate) {
  // One census/profiler entry, a linear layer (x, w), like libtorch's addmm would have been.
  RECORD_FUNCTION("i2v::linear", std::vector<c10::IValue>({x, key}));
  try {
    // oneDNN (OpenMP build) runs on this thread's OpenMP team: give a fresh thread (a server
    // worker) libtorch's thread count first, as libtorch's own kernels do.
    at::internal::lazy_init_num_threads();
    const std::shared_ptr<Plan> plan = plan_for(x, n, w_row, w_col, bias, out, accumulate);
    auto& engine = onednn_cpu_engine();
    dnnl::stream stream(engine);
    const memory::desc& packed_desc = plan->pd.weights_desc();
    const at::Tensor packed =
        packed_weight(key, keep, plan->weights_plain, packed_desc, plan->pack, stream, source);
    memory w_packed(packed_desc, engine, packed.data_ptr());
    memory src(plan->pd.src_desc(), engine, const_cast<void*>(x.data_ptr()));
    memory dst(plan->pd.dst_desc(), engine, out.data_ptr());
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w_packed}, {DNNL_ARG_DST, dst}};
    if (bias.defined()) {
      args.emplace(DNNL_ARG_BIAS,
                   memory(plan->pd.bias_desc(), engine, const_cast<void*>(bias.data_ptr())));
    }
    plan->matmul.execute(stream, args);
    stream.wait();
    return true;
  } catch (const dnnl::error&) {
    return false;  // a layout this oneDNN does not implement: libtorch's path instead
  }
}

}  // namespace

bool onednn_gemm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias, at::Tensor& out,
                 bool accumulate, bool persistent_weight) {
  const bool keep = persistent_weight && packed_weights_open();
  if (!bf16_cpu_2d(w) || !qualifies(x, w.size(0), bias, out, keep) || w.size(1) != x.size(1))
    return false;
  return run(x, w, w.size(0), w.stride(0), w.stride(1), {}, keep, bias, out, accumulate);
}

bool onednn_gemm_rearranged(const at::Tensor& x, const at::Tensor& weight, int64_t n,
                            const std::function<at::Tensor()>& rows_of, const at::Tensor& bias,
                            at::Tensor& out) {
  if (!packed_weights_open() || !weight.defined() || !weight.has_storage() ||
      !qualifies(x, n, bias, out, /*keep=*/true))
    return false;
  const int64_t k = x.size(1);
  auto rows = [&] {
    at::Tensor r = rows_of();
    if (r.sizes() != at::IntArrayRef({n, k}) || !r.is_contiguous() ||
        r.scalar_type() != at::kBFloat16)
      throw ShapeError("onednn_gemm_rearranged: rows_of() must give a contiguous bf16 (n, k)");
    return r;
  };
  return run(x, weight, n, k, 1, rows, /*keep=*/true, bias, out, /*accumulate=*/false);
}

#else  // built without oneDNN

bool onednn_gemm_enabled() {
  return false;
}

bool onednn_gemm(const at::Tensor&, const at::Tensor&, const at::Tensor&, at::Tensor&, bool, bool) {
  return false;
}

bool onednn_gemm_rearranged(const at::Tensor&, const at::Tensor&, int64_t,
                            const std::function<at::Tensor()>&, const at::Tensor&, at::Tensor&) {
  return false;
}

#endif

}  // namespace i2v::kernels
