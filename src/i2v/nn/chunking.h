// Process-wide limits, in elements, on the transient tensors that layers materialise. Operations
// that are independent per query row / per token (attention, feed-forward) are split into blocks
// that stay under the limit; the results are identical to the unsplit computation. At full
// I2VGen-XL size (88x160 latents, 16 frames) the unsplit tensors would need tens of GiB.
#pragma once

#include <cstdint>

namespace i2v::nn {

// Float32 attention scores per block (scaled_dot_product's explicit path). Default 1 << 20 (4 MiB
// of scores; the peak is about twice that: scores plus probabilities): blocks that stay in cache
// ran 2x faster than 1 << 26 on CPU (3520 positions, 5 heads of 64). Values < 1 are clamped to 1
// (one query row per block).
void set_attention_score_budget(int64_t max_score_elements);
int64_t attention_score_budget();

// Feed-forward hidden activations per block (tokens x projection width, e.g. 8*dim for GEGLU).
// Default 1 << 22 (16 MiB in fp32; CPU speed was flat between 1 << 18 and 1 << 26). Values < 1
// are clamped to 1 (one token per block).
void set_feed_forward_budget(int64_t max_hidden_elements);
int64_t feed_forward_budget();

}  // namespace i2v::nn
