// What i2v's direct oneDNN kernels (products, convolutions, attention) share: the one CPU engine
// and a cache of the primitives built per shape. Internal to src/i2v/kernels; only in builds with
// I2V_WITH_ONEDNN.
#pragma once

#ifdef I2V_WITH_ONEDNN
#include <dnnl.hpp>

#include <ATen/Tensor.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace i2v::kernels {

inline dnnl::engine& onednn_cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// Plans (primitives and the descriptors around them) keyed by shape and layout: built once,
// reused every step. Thread-safe; a plan is built under the lock, so each shape is built once.
template <typename Plan>
class OnednnPlanCache {
 public:
  explicit OnednnPlanCache(std::size_t limit) : limit_(limit) {}

  template <typename Build>
  std::shared_ptr<Plan> get(const std::string& key, Build&& build) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
    if (plans_.size() > limit_) plans_.clear();  // a long-running server's shapes: stay bounded
    std::shared_ptr<Plan> plan = build();
    plans_.emplace(key, plan);
    return plan;
  }

 private:
  std::size_t limit_;
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Plan>> plans_;
};

// `w` (in layout `given`) reordered by `pack` into `layout`, the layout a primitive wants: the
// copy kept while a PackedWeightScope is open when `keep` (packed_weights.h: made at the first
// call, reused after), else a copy for this call only. With `source`, the bytes reordered are
// source()'s (a rearrangement of w, in layout `given`), made only when no kept copy exists; the
// copy is still kept under w.
at::Tensor packed_weight(const at::Tensor& w, bool keep, const dnnl::memory::desc& given,
                         const dnnl::memory::desc& layout, dnnl::reorder& pack,
                         dnnl::stream& stream, const std::function<at::Tensor()>& source = {});

}  // namespace i2v::kernels
#endif
