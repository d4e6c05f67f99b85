// Fused GroupNorm (+ optional SiLU) for float32 and bfloat16 tensors on CPU, in one read for the
// statistics and one read + write for the output. Statistics accumulate in float32 lanes that are
// flushed into double every block, so bf16 inputs get float32-or-better moments. libtorch 1.13's
// bf16 group_norm is slow and the float32 round trip costs two extra passes plus one for SiLU.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>

namespace i2v::kernels {

// Memory orders the kernel reads directly (anything else: the caller makes x contiguous).
enum class GroupNormLayout {
  ChannelsFirst,  // (N, C, S...) contiguous: each (n, group) is one contiguous block
  ChannelsLast,   // memory (N, S, C): rows of C channels (channels-last 4-D/5-D, token-major)
};

// y = norm(x) * weight + bias (then silu(y) if `silu`), statistics per (n, group) over the
// group's C/G channels and all positions. x: (N, C, ...) float32 or bfloat16 in one of the
// layouts above; weight/bias: (C) of any float dtype or undefined. Returns y in x's dtype, shape
// and memory order. Throws ShapeError on bad shapes.
at::Tensor group_norm(const at::Tensor& x, int64_t groups, const at::Tensor& weight,
                      const at::Tensor& bias, double eps, bool silu);

// The same on an explicit token-major view: x (N, L, C) contiguous, groups over C, statistics
// over all L rows of one n. Returns (N, L, C).
at::Tensor group_norm_tokens(const at::Tensor& x, int64_t groups, const at::Tensor& weight,
                             const at::Tensor& bias, double eps, bool silu);

// Which layout group_norm() would read x in, or nullopt-like false when neither (needs a copy).
bool group_norm_layout_of(const at::Tensor& x, GroupNormLayout& layout);

}  // namespace i2v::kernels
