#include "i2v/kernels/onednn_attention.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "i2v/kernels/attention_operands.h"
#include "i2v/kernels/onednn_gemm.h"
#include "i2v/kernels/softmax.h"
#include "i2v/kernels/vector_math.h"

#ifdef I2V_WITH_ONEDNN
#include <dnnl.hpp>

#include "i2v/kernels/onednn_engine.h"

#include <memory>
#include <unordered_map>
#include <vector>
#endif

namespace i2v::kernels {

#ifdef I2V_WITH_ONEDNN
namespace {

using dnnl::memory;
using dt = memory::data_type;

// Scores per block: 128K float32 (512 KiB) plus their bf16 probabilities stay in a core's L2.
constexpr int64_t kBlockScores = 128 * 1024;

// The two products of one block shape: scores = q.k^T (float32) and out = probs.v (bf16), on
// packed (nb, rows, .) operands. k^T and v are reordered once per group into the blocked layouts
// the products want (AMX/AVX512 tiles), not once per row block.
struct BlockPlan {
  dnnl::matmul scores;
  dnnl::matmul values;
  memory::desc q, s, p, o;
  memory::desc kt_plain, kt_packed, v_plain, v_packed;
  dnnl::reorder pack_kt, pack_v;
  size_t scratch_bytes = 0;  // the largest scratchpad of the four primitives
  memory::desc scratch;
};

OnednnPlanCache<BlockPlan> g_plans(256);

std::shared_ptr<BlockPlan> plan_for(int64_t nb, int64_t rows, int64_t lk, int64_t d, int64_t dv) {
  const std::string key = std::to_string(nb) + "," + std::to_string(rows) + "," +
                          std::to_string(lk) + "," + std::to_string(d) + "," + std::to_string(dv);
  return g_plans.get(key, [&] {
    auto plan = std::make_shared<BlockPlan>();
    using tag = memory::format_tag;
    plan->q = memory::desc({nb, rows, d}, dt::bf16, tag::abc);
    // k packed (nb, lk, d) row-major, seen as its transpose (nb, d, lk).
    plan->kt_plain = memory::desc({nb, d, lk}, dt::bf16, memory::dims{lk * d, 1, d});
    plan->s = memory::desc({nb, rows, lk}, dt::f32, tag::abc);
    plan->p = memory::desc({nb, rows, lk}, dt::bf16, tag::abc);
    plan->v_plain = memory::desc({nb, lk, dv}, dt::bf16, tag::abc);
    plan->o = memory::desc({nb, rows, dv}, dt::f32, tag::abc);
    auto& engine = onednn_cpu_engine();
    // Worker threads run the same primitives at once: each passes its own scratchpad (the
    // library-managed one is shared per primitive in this oneDNN build).
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const dnnl::matmul::primitive_desc scores_pd(
        dnnl::matmul::desc(plan->q, memory::desc({nb, d, lk}, dt::bf16, tag::any), plan->s), attr,
        engine);
    const dnnl::matmul::primitive_desc values_pd(
        dnnl::matmul::desc(plan->p, memory::desc({nb, lk, dv}, dt::bf16, tag::any), plan->o), attr,
        engine);
    plan->scores = dnnl::matmul(scores_pd);
    plan->values = dnnl::matmul(values_pd);
    plan->kt_packed = scores_pd.weights_desc();
    plan->v_packed = values_pd.weights_desc();
    const dnnl::reorder::primitive_desc pack_kt_pd(engine, plan->kt_plain, engine, plan->kt_packed,
                                                   attr);
    const dnnl::reorder::primitive_desc pack_v_pd(engine, plan->v_plain, engine, plan->v_packed,
                                                  attr);
    plan->pack_kt = dnnl::reorder(pack_kt_pd);
    plan->pack_v = dnnl::reorder(pack_v_pd);
    plan->scratch_bytes =
        std::max({scores_pd.scratchpad_desc().get_size(), values_pd.scratchpad_desc().get_size(),
                  pack_kt_pd.scratchpad_desc().get_size(), pack_v_pd.scratchpad_desc().get_size()});
    plan->scratch =
        memory::desc({std::max<int64_t>(1, plan->scratch_bytes)}, dt::u8, memory::format_tag::a);
    return plan;
  });
}

bool env_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("I2V_FUSED_ATTENTION");
    return !(v && std::string(v) == "0");
  }();
  return on && onednn_gemm_enabled();
}

// Copies rows [r0, r0 + nr) of entries [e0, e0 + nb) of a (N, H, L, w) strided bf16 tensor into a
// packed (nb, nr, w) buffer.
void pack(const at::Tensor& t, int64_t e0, int64_t nb, int64_t r0, int64_t nr, uint16_t* dst) {
  const int64_t heads = t.size(1), w = t.size(3);
  const auto* base = static_cast<const uint16_t*>(t.data_ptr());
  for (int64_t e = 0; e < nb; ++e) {
    const int64_t n = (e0 + e) / heads, h = (e0 + e) % heads;
    const uint16_t* src = base + n * t.stride(0) + h * t.stride(1);
    for (int64_t r = 0; r < nr; ++r) {
      std::memcpy(dst + (e * nr + r) * w, src + (r0 + r) * t.stride(2), w * sizeof(uint16_t));
    }
  }
}

// One row of the output: the float32 product of unnormalised probabilities and v, divided by
// the row's sum of exponentials and rounded to bf16 once.
I2V_CLONES void normalise_row(const float* row, float inv_sum, uint16_t* out, int64_t dv) {
  for (int64_t j = 0; j < dv; ++j) store(out, j, row[j] * inv_sum);
}

}  // namespace

bool onednn_attention_enabled() {
  return env_enabled();
}

at::Tensor onednn_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            double scale) {
  if (!env_enabled()) return {};
  if (!bf16_attention_operands(q, k, v)) return {};
  const int64_t batch = q.size(0), heads = q.size(1), lq = q.size(2), d = q.size(3);
  const int64_t lk = k.size(2), dv = v.size(3);
  if (batch * heads * lq * lk == 0 || dv == 0) return {};
  RECORD_FUNCTION("i2v::attention", std::vector<c10::IValue>({q, k, v}));

  // Row blocks of one entry when its scores are large; else groups of whole entries, small
  // enough that both threads get several groups.
  const int64_t entries = batch * heads;
  int64_t rows = lq, group = 1;
  if (lq * lk > kBlockScores) {
    rows = std::min(lq, std::max<int64_t>(16, kBlockScores / lk / 16 * 16));
  } else {
    const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
    group = std::max<int64_t>(1, kBlockScores / (lq * lk));
    group = std::min(group, std::max<int64_t>(1, entries / (4 * threads)));
  }
  at::Tensor out = at::empty({batch, lq, heads, dv}, q.options());
  auto* out_base = static_cast<uint16_t*>(out.data_ptr());
  const int64_t groups = (entries + group - 1) / group;
  try {
    at::internal::lazy_init_num_threads();
    // The full block's plan is built before the parallel region (primitive creation is costly);
    // a short last block or group builds its own once.
    auto full = plan_for(group, rows, lk, d, dv);
    at::parallel_for(0, groups, 1, [&](int64_t g0, int64_t g1) {
      std::vector<uint16_t> kbuf(group * lk * d), vbuf(group * lk * dv), qbuf(group * rows * d);
      std::vector<uint16_t> pbuf(group * rows * lk);
      std::vector<float> sbuf(group * rows * lk), obuf(group * rows * dv), inv_sum(group * rows);
      std::vector<char> kt_packed, v_packed, scratch;
      auto& engine = onednn_cpu_engine();
      dnnl::stream stream(engine);
      // The operand in the layout the product wants: src itself when that layout
      // is the plain one, else reordered into `packed`.
      auto ready = [&](dnnl::reorder& reorder, const memory::desc& plain,
                       const memory::desc& wanted, void* src, std::vector<char>& packed,
                       memory& scratch_mem) -> void* {
        if (wanted == plain) return src;
        packed.resize(wanted.get_size());
        reorder.execute(stream, {{DNNL_ARG_FROM, memory(plain, engine, src)},
                                 {DNNL_ARG_TO, memory(wanted, engine, packed.data())},
                                 {DNNL_ARG_SCRATCHPAD, scratch_mem}});
        return packed.data();
      };
      for (int64_t g = g0; g < g1; ++g) {
        const int64_t e0 = g * group, nb = std::min(group, entries - e0);
        pack(k, e0, nb, 0, lk, kbuf.data());
        pack(v, e0, nb, 0, lk, vbuf.data());
        std::shared_ptr<BlockPlan> packed_for;  // the plan whose layouts kt_ready/v_ready are in
        void *kt_ready = nullptr, *v_ready = nullptr;
        for (int64_t r0 = 0; r0 < lq; r0 += rows) {
          const int64_t nr = std::min(rows, lq - r0);
          const auto plan = (nb == group && nr == rows) ? full : plan_for(nb, nr, lk, d, dv);
          scratch.resize(std::max<size_t>({1, scratch.size(), plan->scratch_bytes}));
          memory scratch_mem(plan->scratch, engine, scratch.data());
          if (!packed_for || !(packed_for->kt_packed == plan->kt_packed) ||
              !(packed_for->v_packed == plan->v_packed)) {
            kt_ready = ready(plan->pack_kt, plan->kt_plain, plan->kt_packed, kbuf.data(), kt_packed,
                             scratch_mem);
            v_ready = ready(plan->pack_v, plan->v_plain, plan->v_packed, vbuf.data(), v_packed,
                            scratch_mem);
            packed_for = plan;
          }
          pack(q, e0, nb, r0, nr, qbuf.data());
          plan->scores.execute(stream,
                               {{DNNL_ARG_SRC, memory(plan->q, engine, qbuf.data())},
                                {DNNL_ARG_WEIGHTS, memory(plan->kt_packed, engine, kt_ready)},
                                {DNNL_ARG_DST, memory(plan->s, engine, sbuf.data())},
                                {DNNL_ARG_SCRATCHPAD, scratch_mem}});
          softmax_exp_rows(sbuf.data(), pbuf.data(), inv_sum.data(), nb * nr, lk,
                           static_cast<float>(scale));
          plan->values.execute(stream, {{DNNL_ARG_SRC, memory(plan->p, engine, pbuf.data())},
                                        {DNNL_ARG_WEIGHTS, memory(plan->v_packed, engine, v_ready)},
                                        {DNNL_ARG_DST, memory(plan->o, engine, obuf.data())},
                                        {DNNL_ARG_SCRATCHPAD, scratch_mem}});
          for (int64_t e = 0; e < nb; ++e) {
            const int64_t n = (e0 + e) / heads, h = (e0 + e) % heads;
            for (int64_t r = 0; r < nr; ++r) {
              normalise_row(obuf.data() + (e * nr + r) * dv, inv_sum[e * nr + r],
                            out_base + ((n * lq + r0 + r) * heads + h) * dv, dv);
            }
          }
        }
      }
    });
  } catch (const dnnl::error&) {
    return {};  // a shape this oneDNN does not implement: the plain path instead
  }
  return out.transpose(1, 2);
}

#else  // built without oneDNN

bool onednn_attention_enabled() {
  return false;
}

at::Tensor onednn_attention(const at::Tensor&, const at::Tensor&, const at::Tensor&, double) {
  return {};
}

#endif

}  // namespace i2v::kernels
