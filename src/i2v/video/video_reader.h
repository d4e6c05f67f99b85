// Reading frames of a video file (MP4, WebM, MKV, MOV, GIF ... whatever FFmpeg decodes) as RGB:
// the training data of `i2v train-lora`.
#pragma once

#include <ATen/ATen.h>

#include <filesystem>

namespace i2v::video {

// The first `max_frames` frames (all when <= 0) as (F, H, W, 3) uint8 RGB. IoError naming the
// file when it cannot be opened or has no video stream, FormatError when decoding fails.
at::Tensor read_video_frames(const std::filesystem::path& path, int max_frames = 0);

}  // namespace i2v::video
