// Long videos with sliding frame windows (APPROXIMATE): the UNet, trained on 16-frame clips, runs
// on overlapping windows of the latents at every step and the windows' predictions are fused per
// frame with weights. Memory is that of one window, whatever the length of the video.
//
// The rules are diffusers' FreeNoise ones (pipelines/free_noise_utils.py and
// FreeNoiseTransformerBlock in models/attention.py), applied to whole UNet predictions as
// ComfyUI's uniform context windows do:
// - window starts 0, S, 2S, ... while a full window fits; when the last one does not end at the
//   last frame, one more window [N - L, N) is added, of which only the frames no earlier window
//   covered are used;
// - weights per position inside a window: flat (all 1) or pyramid (1, 2, .., L/2, L/2, .., 1);
// - the fused value of a frame is the weighted mean of the windows' values for it. (diffusers
//   accumulates the tail window's normaliser with one weight for all its frames; here each frame
//   uses its own weight, so the fusion is always a proper weighted mean.)
// - FreeNoise noise rescheduling (`shuffle_context`): for i = L, L+S, ...: the frames
//   [i, i + S) get a random permutation of the initial noise of frames [i - L, i - L + S).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace i2v::pipeline {

enum class WindowFuse { Flat, Pyramid };

struct FrameWindows {
  int length = 0;  // frames per window (L); 0 = off: the UNet sees every frame (exact)
  int stride = 4;  // S
  WindowFuse fuse = WindowFuse::Pyramid;
  bool shuffle_noise = false;  // FreeNoise noise rescheduling of the initial noise

  // Whether the UNet runs on windows: length set and no longer than the video. One window of
  // the whole video is the plain computation (exact); more are approximate.
  bool applies(int64_t frames) const { return length > 0 && frames >= length; }
  bool approximate(int64_t frames) const { return length > 0 && frames > length; }
};

// ConfigError unless off (length 0) or 2 <= length and 1 <= stride <= length.
void validate_windows(const FrameWindows& windows);

// "flat" / "pyramid" <-> WindowFuse; ConfigError naming the allowed values.
WindowFuse parse_window_fuse(const std::string& name);
std::string window_fuse_name(WindowFuse fuse);

// [start, end) of each window over `frames` frames (the tail window included).
std::vector<std::pair<int64_t, int64_t>> window_ranges(int64_t frames, int64_t length,
                                                       int64_t stride);
// The weight of each position inside a window of `length` frames.
std::vector<double> window_weights(int64_t length, WindowFuse fuse);

// Fuses per-window predictions into one per frame: add() each window's prediction
// (B, C, L, h, w) in the order of window_ranges(), then result(). A single window's prediction
// is the result as it is (bit for bit).
class WindowFusion {
 public:
  WindowFusion(const FrameWindows& windows, const at::Tensor& like);  // like: (B, C, F, h, w)
  const std::vector<std::pair<int64_t, int64_t>>& ranges() const { return ranges_; }
  void add(size_t window, const at::Tensor& prediction);
  at::Tensor result() const;

 private:
  std::vector<std::pair<int64_t, int64_t>> ranges_;
  std::vector<double> weights_;
  int64_t tail_from_ = 0;  // > 0: the last window is a tail window contributing from here on
  at::Tensor sum_, weight_sum_;
  at::Tensor only_;  // the prediction of a single window
};

// FreeNoise's shuffle_context on the initial noise (B, C, F, h, w), in place of a copy; the
// permutations come from `generator`.
at::Tensor shuffle_context_noise(const at::Tensor& noise, int64_t length, int64_t stride,
                                 at::Generator generator);

}  // namespace i2v::pipeline
