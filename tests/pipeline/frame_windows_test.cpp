// Frame windows for long videos against a line-by-line transcription of diffusers' FreeNoise
// rules (FreeNoiseTransformerBlock._get_frame_indices / _get_frame_weights and the tail window of
// its forward; free_noise_utils._prepare_latents_free_noise's shuffle_context), and the fusion
// against a per-frame weighted mean computed in float64.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>

#include "i2v/error.h"
#include "i2v/pipeline/frame_windows.h"

namespace i2v::pipeline {
namespace {

using Ranges = std::vector<std::pair<int64_t, int64_t>>;

// diffusers: range(0, num_frames - context_length + 1, context_stride), end clipped to
// num_frames; then, when the last window does not end at num_frames, (num_frames - L, num_frames).
Ranges diffusers_frame_indices(int64_t num_frames, int64_t context_length, int64_t stride) {
  Ranges frame_indices;
  for (int64_t i = 0; i < num_frames - context_length + 1; i += stride)
    frame_indices.emplace_back(i, std::min(num_frames, i + context_length));
  if (frame_indices.back().second != num_frames)
    frame_indices.emplace_back(num_frames - context_length, num_frames);
  return frame_indices;
}

// diffusers' _get_frame_weights for "flat" and "pyramid".
std::vector<double> diffusers_frame_weights(int64_t num_frames, const std::string& scheme) {
  std::vector<double> weights;
  if (scheme == "flat") return std::vector<double>(num_frames, 1.0);
  if (num_frames % 2 == 0) {
    const int64_t mid = num_frames / 2;
    for (int64_t i = 1; i <= mid; ++i) weights.push_back(static_cast<double>(i));
    for (int64_t i = mid; i >= 1; --i) weights.push_back(static_cast<double>(i));
  } else {
    const int64_t mid = (num_frames + 1) / 2;
    for (int64_t i = 1; i < mid; ++i) weights.push_back(static_cast<double>(i));
    weights.push_back(static_cast<double>(mid));
    for (int64_t i = mid - 1; i >= 1; --i) weights.push_back(static_cast<double>(i));
  }
  return weights;
}

TEST(FrameWindows, StartsAndEndsAreDiffusersFreeNoiseIndices) {
  int cases = 0;
  for (int64_t length : {2, 3, 4, 8, 16})
    for (int64_t stride = 1; stride <= length; ++stride)
      for (int64_t frames = length; frames <= 90; ++frames) {
        ASSERT_EQ(window_ranges(frames, length, stride),
                  diffusers_frame_indices(frames, length, stride))
            << frames << " frames, L " << length << ", S " << stride;
        ++cases;
      }
  // The example in diffusers' comment: 25 frames, L 16, S 4.
  EXPECT_EQ(window_ranges(25, 16, 4), (Ranges{{0, 16}, {4, 20}, {8, 24}, {9, 25}}));
  EXPECT_EQ(window_ranges(64, 16, 4).size(), 13u);
  std::printf("[ windows ] %d (frames, length, stride) cases equal diffusers' indices\n", cases);
}

TEST(FrameWindows, WeightsAreDiffusersFlatAndPyramid) {
  for (int64_t length = 1; length <= 24; ++length) {
    EXPECT_EQ(window_weights(length, WindowFuse::Flat), diffusers_frame_weights(length, "flat"));
    EXPECT_EQ(window_weights(length, WindowFuse::Pyramid),
              diffusers_frame_weights(length, "pyramid"))
        << length;
  }
  EXPECT_EQ(window_weights(4, WindowFuse::Pyramid), (std::vector<double>{1, 2, 2, 1}));
  EXPECT_EQ(window_weights(5, WindowFuse::Pyramid), (std::vector<double>{1, 2, 3, 2, 1}));
}

// Per frame: the weighted mean of the windows' values for it, the tail window counting only the
// frames after the last regular window (float64, frame by frame).
at::Tensor reference_fusion(const std::vector<at::Tensor>& preds, const Ranges& ranges,
                            const std::vector<double>& w, int64_t frames, int64_t stride) {
  const at::Tensor like = preds[0];
  at::Tensor out =
      at::zeros({like.size(0), like.size(1), frames, like.size(3), like.size(4)}, at::kDouble);
  const bool tail =
      ranges.size() > 1 && ranges.back().first < ranges[ranges.size() - 2].first + stride;
  const int64_t tail_from = tail ? ranges[ranges.size() - 2].second : 0;
  for (int64_t f = 0; f < frames; ++f) {
    at::Tensor sum = at::zeros_like(out.select(2, 0));
    double total = 0;
    for (size_t k = 0; k < ranges.size(); ++k) {
      const auto [s, e] = ranges[k];
      if (f < s || f >= e) continue;
      if (tail && k + 1 == ranges.size() && f < tail_from) continue;
      sum += preds[k].select(2, f - s).to(at::kDouble) * w[f - s];
      total += w[f - s];
    }
    out.select(2, f).copy_(sum / total);
  }
  return out;
}

TEST(FrameWindows, FusionIsTheWeightedMeanOfTheWindowsPerFrame) {
  for (auto [frames, length, stride] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {25, 16, 4}, {64, 16, 4}, {13, 6, 2}, {10, 4, 4}, {11, 4, 3}}) {
    for (WindowFuse fuse : {WindowFuse::Flat, WindowFuse::Pyramid}) {
      FrameWindows windows{static_cast<int>(length), static_cast<int>(stride), fuse, false};
      const at::Tensor like = at::zeros({2, 3, frames, 2, 3});
      WindowFusion fusion(windows, like);
      std::vector<at::Tensor> preds;
      for (size_t k = 0; k < fusion.ranges().size(); ++k) {
        preds.push_back(at::randn({2, 3, length, 2, 3}));
        fusion.add(k, preds.back());
      }
      const at::Tensor ref =
          reference_fusion(preds, fusion.ranges(), window_weights(length, fuse), frames, stride);
      const double err = (fusion.result().to(at::kDouble) - ref).abs().max().item<double>();
      EXPECT_LT(err, 1e-6) << frames << "/" << length << "/" << stride << " "
                           << window_fuse_name(fuse);
    }
  }
  // Windows that all predict the same value give that value back.
  FrameWindows windows{16, 4, WindowFuse::Pyramid, false};
  WindowFusion fusion(windows, at::zeros({1, 4, 30, 2, 2}));
  for (size_t k = 0; k < fusion.ranges().size(); ++k)
    fusion.add(k, at::full({1, 4, 16, 2, 2}, 0.25));
  EXPECT_LT((fusion.result() - 0.25).abs().max().item<float>(), 1e-7);
}

TEST(FrameWindows, OneWindowIsThePredictionBitForBit) {
  FrameWindows windows{8, 4, WindowFuse::Pyramid, false};
  const at::Tensor pred = at::randn({2, 4, 8, 3, 5});
  WindowFusion fusion(windows, pred);
  ASSERT_EQ(fusion.ranges().size(), 1u);
  fusion.add(0, pred);
  EXPECT_TRUE(fusion.result().equal(pred));
  EXPECT_TRUE(windows.applies(8));
  EXPECT_FALSE(windows.approximate(8));
  EXPECT_TRUE(windows.approximate(9));
  EXPECT_FALSE(windows.applies(7));
}

// diffusers' shuffle_context loop, statement by statement (torch evaluates the indexed right-hand
// side into a new tensor before the assignment).
at::Tensor diffusers_shuffle_context(at::Tensor latents, int64_t L, int64_t S, at::Generator g) {
  const int64_t num_frames = latents.size(2);
  latents = latents.clone();
  for (int64_t i = L; i < num_frames; i += S) {
    const int64_t window_start = std::max<int64_t>(0, i - L);
    const int64_t window_end = std::min(num_frames, window_start + S);
    const int64_t window_length = window_end - window_start;
    if (window_length == 0) break;
    at::Tensor indices = at::arange(window_start, window_end, at::kLong);
    at::Tensor shuffled = indices.index_select(0, at::randperm(window_length, g, at::kLong));
    const int64_t current_start = i;
    const int64_t current_end = std::min(num_frames, current_start + window_length);
    if (current_end != current_start + window_length)
      shuffled = shuffled.slice(0, 0, current_end - current_start);
    at::Tensor rhs = latents.index_select(2, shuffled);
    latents.slice(2, current_start, current_end).copy_(rhs);
  }
  return latents;
}

TEST(FrameWindows, ShuffleContextIsFreeNoises) {
  for (auto [frames, length, stride] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {64, 16, 4}, {25, 16, 4}, {13, 6, 2}, {30, 8, 3}}) {
    const at::Tensor noise = at::randn({1, 4, frames, 3, 3});
    at::Generator a = at::make_generator<at::CPUGeneratorImpl>(1234);
    at::Generator b = at::make_generator<at::CPUGeneratorImpl>(1234);
    const at::Tensor ours = shuffle_context_noise(noise, length, stride, a);
    EXPECT_TRUE(ours.equal(diffusers_shuffle_context(noise, length, stride, b)))
        << frames << "/" << length << "/" << stride;
    // The first window keeps its noise; every later frame is the noise of some first-window
    // frame (the shuffles only reorder it), and the order is not the identity.
    EXPECT_TRUE(ours.slice(2, 0, length).equal(noise.slice(2, 0, length)));
    for (int64_t f = length; f < frames; ++f) {
      bool found = false;
      for (int64_t src = 0; src < length && !found; ++src)
        found = ours.select(2, f).equal(noise.select(2, src));
      EXPECT_TRUE(found) << "frame " << f;
    }
    EXPECT_FALSE(ours.equal(noise));
  }
}

TEST(FrameWindows, BadSettingsAreRefusedByName) {
  EXPECT_NO_THROW(validate_windows({0, 4, WindowFuse::Pyramid, false}));
  EXPECT_NO_THROW(validate_windows({16, 16, WindowFuse::Flat, false}));
  EXPECT_THROW(validate_windows({1, 1, WindowFuse::Flat, false}), ConfigError);
  EXPECT_THROW(validate_windows({8, 0, WindowFuse::Flat, false}), ConfigError);
  EXPECT_THROW(validate_windows({8, 9, WindowFuse::Flat, false}), ConfigError);
  EXPECT_EQ(parse_window_fuse("flat"), WindowFuse::Flat);
  try {
    parse_window_fuse("gaussian");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("flat or pyramid"), std::string::npos);
  }
}

}  // namespace
}  // namespace i2v::pipeline
