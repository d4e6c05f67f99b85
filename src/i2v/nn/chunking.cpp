#include "i2v/nn/chunking.h"

#include <algorithm>
#include <atomic>

namespace i2v::nn {
namespace {

// Atomics: a budget may be set from a CLI thread while nothing runs; reads are cheap.
std::atomic<int64_t> g_attention_scores{int64_t{1} << 20};
std::atomic<int64_t> g_feed_forward{int64_t{1} << 22};

}  // namespace

void set_attention_score_budget(int64_t n) {
  g_attention_scores = std::max<int64_t>(1, n);
}
int64_t attention_score_budget() {
  return g_attention_scores;
}

void set_feed_forward_budget(int64_t n) {
  g_feed_forward = std::max<int64_t>(1, n);
}
int64_t feed_forward_budget() {
  return g_feed_forward;
}

}  // namespace i2v::nn
