#include "i2v/nn/chunking.h"

#include <algorithm>
#include <atomic>

namespace i2v::nn {
namespace {

// Atomics: a default may be set from a CLI thread while nothing runs; reads are cheap.
std::atomic<int64_t> g_attention_scores{int64_t{1} << 20};
std::atomic<int64_t> g_feed_forward{int64_t{1} << 22};
// 0 = no override on this thread.
thread_local int64_t t_attention_override = 0;

}  // namespace

void set_attention_score_budget(int64_t n) {
  g_attention_scores = std::max<int64_t>(1, n);
}
int64_t attention_score_budget() {
  return t_attention_override > 0 ? t_attention_override : g_attention_scores.load();
}

ScopedAttentionScoreBudget::ScopedAttentionScoreBudget(int64_t n) : saved_(t_attention_override) {
  if (n > 0) t_attention_override = n;
}
ScopedAttentionScoreBudget::~ScopedAttentionScoreBudget() {
  t_attention_override = saved_;
}

void set_feed_forward_budget(int64_t n) {
  g_feed_forward = std::max<int64_t>(1, n);
}
int64_t feed_forward_budget() {
  return g_feed_forward;
}

}  // namespace i2v::nn
