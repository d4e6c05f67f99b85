#include "cmd_bench_census.h"

#include <ATen/core/ivalue.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

namespace i2v::cli {
namespace {

using Clock = std::chrono::steady_clock;

// One census at a time (the callbacks are plain function pointers, so the state is global).
struct State {
  std::thread::id thread;
  int depth = 0;
  std::vector<Clock::time_point> starts;
  Clock::time_point t0;
  double pending_flops = 0;   // of the outermost operator now running
  std::string pending_shape;  // its argument shapes
  CensusResult result;
};
State* g_state = nullptr;

bool contains(const std::string& s, const char* part) {
  return s.find(part) != std::string::npos;
}

const at::Tensor* tensor_arg(const at::RecordFunction& fn, size_t i) {
  const auto inputs = fn.inputs();
  if (i >= inputs.size() || !inputs[i].isTensor()) return nullptr;
  return &inputs[i].toTensor();
}

const at::Tensor* tensor_out(const at::RecordFunction& fn) {
  const auto& outs = fn.outputs();
  if (outs.empty() || !outs[0].isTensor()) return nullptr;
  return &outs[0].toTensor();
}

// 2 x multiply-adds of the matrix work an operator does, from its argument shapes. Called when
// the operator starts (i2v's own RECORD_FUNCTION inputs live only until then), except for
// convolutions, which need the output shape (from the end callback; aten ops keep their inputs).
double flops_of(const std::string& name, const at::RecordFunction& fn) {
  auto numel = [](const at::Tensor* t) { return t && t->defined() ? double(t->numel()) : 0.0; };
  if (name == "i2v::attention" || name == "aten::scaled_dot_product_attention") {
    const at::Tensor *q = tensor_arg(fn, 0), *k = tensor_arg(fn, 1), *v = tensor_arg(fn, 2);
    if (!q || !k || !v || q->dim() < 2) return 0;
    const double rows = numel(q) / q->size(-1);
    return 2.0 * rows * k->size(-2) * (q->size(-1) + v->size(-1));
  }
  if (name == "i2v::temporal_conv") {  // h (B, F*S, C_in), weight (C_out, C_in, 3, 1, 1), F
    const at::Tensor *h = tensor_arg(fn, 0), *w = tensor_arg(fn, 1);
    const auto inputs = fn.inputs();
    if (!h || !w || h->dim() != 3 || inputs.size() < 3 || !inputs[2].isInt()) return 0;
    const double frames = static_cast<double>(inputs[2].toInt());
    // The centre tap on every frame, the two side taps on all but one frame each.
    return 2.0 * numel(h) * w->size(0) * (3.0 * frames - 2.0) / frames;
  }
  if (name == "i2v::conv2d") {  // x (N, C, H, W), w (O, C, kh, kw), stride, padding
    const at::Tensor *x = tensor_arg(fn, 0), *w = tensor_arg(fn, 1);
    const auto inputs = fn.inputs();
    if (!x || !w || x->dim() != 4 || w->dim() != 4 || inputs.size() < 4 || !inputs[2].isInt() ||
        !inputs[3].isInt())
      return 0;
    const int64_t stride = inputs[2].toInt(), pad = inputs[3].toInt();
    const double oh = (x->size(2) + 2 * pad - w->size(2)) / stride + 1;
    const double ow = (x->size(3) + 2 * pad - w->size(3)) / stride + 1;
    return 2.0 * x->size(0) * oh * ow * numel(w);
  }
  if (contains(name, "conv")) return 0;  // conv_flops_of, at the end
  if (name == "aten::linear" || name == "i2v::linear") {
    const at::Tensor *x = tensor_arg(fn, 0), *w = tensor_arg(fn, 1);
    if (!x || !w || w->dim() != 2) return 0;
    return 2.0 * numel(x) * w->size(0);
  }
  if (name == "aten::mm" || name == "aten::bmm" || name == "aten::matmul" ||
      name == "aten::addmm" || name == "aten::addmm_" || name == "aten::baddbmm" ||
      name == "aten::addbmm") {
    // (..., M, K) x (..., K, N): 2 * M * K * N per batch entry.
    const size_t a = name == "aten::mm" || name == "aten::bmm" || name == "aten::matmul" ? 0 : 1;
    const at::Tensor *x = tensor_arg(fn, a), *y = tensor_arg(fn, a + 1);
    if (!x || !y || x->dim() < 1 || y->dim() < 2) return 0;
    return 2.0 * numel(x) * y->size(-1);
  }
  return 0;
}

double conv_flops_of(const std::string& name, const at::RecordFunction& fn) {
  if (!contains(name, "conv") || name.rfind("aten::", 0) != 0) return 0;
  const at::Tensor *w = tensor_arg(fn, 1), *out = tensor_out(fn);
  if (!w || !out || !w->defined() || !out->defined() || w->dim() < 3) return 0;
  return 2.0 * out->numel() * (double(w->numel()) / w->size(0));
}

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  State* s = g_state;
  if (!s || std::this_thread::get_id() != s->thread) return nullptr;
  if (s->depth++ == 0) {
    s->pending_flops = flops_of(fn.name(), fn);
    s->pending_shape.clear();
    for (size_t i = 0; i < 3; ++i) {
      const at::Tensor* t = tensor_arg(fn, i);
      if (t && t->defined()) s->pending_shape += " " + c10::str(t->sizes());
    }
    s->starts.push_back(Clock::now());
  }
  return nullptr;
}

void on_end(const at::RecordFunction& fn, at::ObserverContext*) {
  State* s = g_state;
  if (!s || std::this_thread::get_id() != s->thread || s->depth == 0) return;
  if (--s->depth != 0) return;
  const double secs = std::chrono::duration<double>(Clock::now() - s->starts.back()).count();
  s->starts.pop_back();
  const std::string name = fn.name();
  const std::string kind = layer_kind_of(name);
  const double flops = s->pending_flops + conv_flops_of(name, fn);
  s->result.seconds_by_kind[kind] += secs;
  s->result.seconds_by_op[name] += secs;
  s->result.flops_by_kind[kind] += flops;
  s->result.flops += flops;
  if (kind == "conv" || kind == "linear" || kind == "attention") {
    auto& st = s->result.by_shape[name + s->pending_shape];
    st.seconds += secs;
    st.flops += flops;
    ++st.calls;
  }
}

}  // namespace

std::string layer_kind_of(const std::string& n) {
  if (n == "i2v::attention" || contains(n, "scaled_dot_product") || contains(n, "bmm") ||
      contains(n, "softmax"))
    return "attention";
  if (contains(n, "conv")) return "conv";
  if (n == "aten::linear" || n == "i2v::linear" || n == "aten::addmm" || n == "aten::mm" ||
      n == "aten::matmul")
    return "linear";
  if (contains(n, "norm")) return "norm";
  if (n == "aten::to") return "layout";
  static const char* layout[] = {"copy",     "_to",     "contiguous", "clone",     "cat",
                                 "permute",  "reshape", "view",       "transpose", "pad",
                                 "upsample", "repeat",  "narrow",     "slice",     "select",
                                 "expand",   "stack",   "flatten",    "chunk",     "split",
                                 "index",    "empty",   "unsqueeze",  "squeeze",   "as_strided"};
  for (const char* p : layout)
    if (contains(n, p)) return "layout";
  static const char* elementwise[] = {"add",   "mul",  "div",  "sub",   "silu", "gelu", "sigmoid",
                                      "exp",   "sin",  "cos",  "neg",   "pow",  "sqrt", "tanh",
                                      "where", "fill", "zero", "clamp", "rsub"};
  for (const char* p : elementwise)
    if (contains(n, p)) return "elementwise";
  return "other";
}

OpCensus::OpCensus() {
  g_state = new State;
  g_state->thread = std::this_thread::get_id();
  g_state->t0 = Clock::now();
  handle_ = at::addThreadLocalCallback(
      at::RecordFunctionCallback(on_start, on_end)
          .needsInputs(true)
          .needsOutputs(true)
          .scopes({at::RecordScope::FUNCTION, at::RecordScope::USER_SCOPE}));
}

OpCensus::~OpCensus() {
  at::removeCallback(handle_);
  delete g_state;
  g_state = nullptr;
}

CensusResult OpCensus::result() const {
  CensusResult r = g_state->result;
  r.wall_s = std::chrono::duration<double>(Clock::now() - g_state->t0).count();
  return r;
}

nlohmann::json CensusResult::to_json(int top_ops) const {
  nlohmann::json share = nlohmann::json::object(), secs = nlohmann::json::object();
  double in_ops = 0;
  for (const auto& [k, s] : seconds_by_kind) {
    share[k] = wall_s > 0 ? s / wall_s : 0.0;
    secs[k] = s;
    in_ops += s;
  }
  share["outside_ops"] = wall_s > 0 ? std::max(0.0, wall_s - in_ops) / wall_s : 0.0;
  std::vector<std::pair<double, std::string>> ops;
  for (const auto& [n, s] : seconds_by_op) ops.emplace_back(s, n);
  std::sort(ops.rbegin(), ops.rend());
  nlohmann::json top = nlohmann::json::object();
  for (int i = 0; i < top_ops && i < static_cast<int>(ops.size()); ++i)
    top[ops[i].second] = ops[i].first;
  nlohmann::json fk = nlohmann::json::object();
  for (const auto& [k, f] : flops_by_kind)
    if (f > 0) fk[k] = f;
  std::vector<std::pair<double, std::string>> shapes;
  for (const auto& [k, st] : by_shape) shapes.emplace_back(st.seconds, k);
  std::sort(shapes.rbegin(), shapes.rend());
  nlohmann::json top_shapes = nlohmann::json::array();
  for (int i = 0; i < top_ops && i < static_cast<int>(shapes.size()); ++i) {
    const ShapeStat& st = by_shape.at(shapes[i].second);
    top_shapes.push_back({{"op", shapes[i].second},
                          {"calls", st.calls},
                          {"seconds", st.seconds},
                          {"tflops", st.seconds > 0 ? st.flops / st.seconds / 1e12 : 0.0}});
  }
  return {{"flops", flops},  {"flops_by_kind", fk}, {"census_wall_s", wall_s}, {"share", share},
          {"seconds", secs}, {"top_ops_s", top},    {"top_shapes", top_shapes}};
}

}  // namespace i2v::cli
