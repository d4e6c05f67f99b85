#include "i2v/pipeline/frame_windows.h"

#include <algorithm>

#include "i2v/error.h"

namespace i2v::pipeline {

void validate_windows(const FrameWindows& w) {
  if (w.length == 0) return;
  if (w.length < 2)
    throw ConfigError("window must be 0 (off) or at least 2 frames (got " +
                      std::to_string(w.length) + ")");
  if (w.stride < 1 || w.stride > w.length)
    throw ConfigError("window stride must be between 1 and the window length " +
                      std::to_string(w.length) + " (got " + std::to_string(w.stride) + ")");
}

WindowFuse parse_window_fuse(const std::string& name) {
  if (name == "flat") return WindowFuse::Flat;
  if (name == "pyramid") return WindowFuse::Pyramid;
  throw ConfigError("window fuse must be flat or pyramid (got '" + name + "')");
}

std::string window_fuse_name(WindowFuse fuse) {
  return fuse == WindowFuse::Flat ? "flat" : "pyramid";
}

std::vector<std::pair<int64_t, int64_t>> window_ranges(int64_t frames, int64_t length,
                                                       int64_t stride) {
  if (length < 1 || stride < 1 || frames < length)
    throw ConfigError("frame windows need 1 <= stride and 1 <= length <= frames (length " +
                      std::to_string(length) + ", stride " + std::to_string(stride) + ", frames " +
                      std::to_string(frames) + ")");
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t start = 0; start + length <= frames; start += stride)
    out.emplace_back(start, start + length);
  if (out.back().second != frames) out.emplace_back(frames - length, frames);
  return out;
}

std::vector<double> window_weights(int64_t length, WindowFuse fuse) {
  if (fuse == WindowFuse::Flat) return std::vector<double>(length, 1.0);
  // Pyramid: 4 -> 1 2 2 1, 5 -> 1 2 3 2 1 (each position's distance to the nearer end, + 1).
  std::vector<double> w(length);
  for (int64_t i = 0; i < length; ++i) w[i] = static_cast<double>(std::min(i, length - 1 - i) + 1);
  return w;
}

WindowFusion::WindowFusion(const FrameWindows& windows, const at::Tensor& like)
    : ranges_(window_ranges(like.size(2), windows.length, windows.stride)),
      weights_(window_weights(windows.length, windows.fuse)) {
  if (ranges_.size() == 1) return;
  sum_ = at::zeros_like(like, like.options().dtype(at::kFloat));
  weight_sum_ = at::zeros({1, 1, like.size(2), 1, 1}, like.options().dtype(at::kFloat));
  // A tail window was added when the regular ones stop short of the last frame: it starts before
  // the end of the one preceding it.
  const size_t n = ranges_.size();
  if (n > 1 && ranges_[n - 1].first < ranges_[n - 2].first + windows.stride)
    tail_from_ = ranges_[n - 2].second;
}

void WindowFusion::add(size_t window, const at::Tensor& prediction) {
  if (ranges_.size() == 1) {
    only_ = prediction.to(at::kFloat);
    return;
  }
  const auto [start, end] = ranges_.at(window);
  // The tail window adds only the frames no earlier window reached (diffusers' rule).
  const int64_t from = window + 1 == ranges_.size() && tail_from_ > 0 ? tail_from_ : start;
  const int64_t skip = from - start;
  at::Tensor w = at::tensor(std::vector<double>(weights_.begin() + skip, weights_.end()),
                            sum_.options().device(at::kCPU))
                     .to(sum_.device())
                     .view({1, 1, end - from, 1, 1});
  sum_.slice(2, from, end).add_(prediction.slice(2, skip).to(at::kFloat) * w);
  weight_sum_.slice(2, from, end).add_(w);
}

at::Tensor WindowFusion::result() const {
  return only_.defined() ? only_ : sum_ / weight_sum_;
}

at::Tensor shuffle_context_noise(const at::Tensor& noise, int64_t length, int64_t stride,
                                 at::Generator generator) {
  at::Tensor out = noise.clone();
  const int64_t frames = out.size(2);
  for (int64_t i = length; i < frames; i += stride) {
    const int64_t start = std::max<int64_t>(0, i - length);
    const int64_t end = std::min(frames, start + stride);
    const int64_t n = end - start;
    if (n == 0) break;
    at::Tensor order = at::randperm(n, generator, at::TensorOptions().dtype(at::kLong)) + start;
    const int64_t stop = std::min(frames, i + n);
    // index_select copies first: frames shuffled earlier in this loop are read as they are now.
    out.slice(2, i, stop).copy_(out.index_select(2, order.slice(0, 0, stop - i).to(out.device())));
  }
  return out;
}

}  // namespace i2v::pipeline
