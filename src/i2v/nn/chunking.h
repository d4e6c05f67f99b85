// Limits, in elements, on the transient tensors that layers materialise. Operations that are
// independent per query row / per token (attention, feed-forward) are split into blocks that stay
// under the limit; the results are identical to the unsplit computation. At full I2VGen-XL size
// (88x160 latents, 16 frames) the unsplit tensors would need tens of GiB.
//
// Each limit has a process default (set_*) and a scoped override for the calling thread
// (ScopedAttentionScoreBudget): a plan sets its value for the duration of one forward pass and
// the previous value comes back afterwards, so nothing carries from one generation to the next.
#pragma once

#include <cstdint>

namespace i2v::nn {

// Float32 attention scores per block (scaled_dot_product's explicit path). Default 1 << 20 (4 MiB
// of scores; the peak is about twice that: scores plus probabilities): blocks that stay in cache
// ran 2x faster than 1 << 26 on CPU (3520 positions, 5 heads of 64). Values < 1 are clamped to 1
// (one query row per block).
void set_attention_score_budget(int64_t max_score_elements);
// The calling thread's override when one is active, else the process default.
int64_t attention_score_budget();

// Overrides the attention score budget on this thread while it lives (<= 0: no override).
class ScopedAttentionScoreBudget {
 public:
  explicit ScopedAttentionScoreBudget(int64_t max_score_elements);
  ~ScopedAttentionScoreBudget();
  ScopedAttentionScoreBudget(const ScopedAttentionScoreBudget&) = delete;
  ScopedAttentionScoreBudget& operator=(const ScopedAttentionScoreBudget&) = delete;

 private:
  int64_t saved_;
};

// Feed-forward hidden activations per block (tokens x projection width, e.g. 8*dim for GEGLU).
// Default 1 << 22 (16 MiB in fp32; CPU speed was flat between 1 << 18 and 1 << 26). Values < 1
// are clamped to 1 (one token per block).
void set_feed_forward_budget(int64_t max_hidden_elements);
int64_t feed_forward_budget();

}  // namespace i2v::nn
