// The training set of `i2v train-lora`: a folder of videos (anything FFmpeg decodes) or of frame
// folders (PNG/JPEG/WebP/BMP files, in name order), each with its caption in a .txt file beside it
// (<name>.txt for <name>.mp4 or the folder <name>/; a folder may hold caption.txt instead). Each
// clip is its first F frames, resized and center-cropped to the training size the way the pipeline
// prepares its input image; frame 0 is the conditioning image, as I2VGen-XL was trained.
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <string>
#include <vector>

namespace i2v::train {

struct ClipSource {
  std::filesystem::path path;  // a video file or a folder of frames
  std::string caption;
};

// Every clip of `dir`, sorted by name. ConfigError naming the clip whose caption is missing, or
// when there is no clip at all; IoError when `dir` is no folder.
std::vector<ClipSource> find_training_clips(const std::filesystem::path& dir);

// (F, H, W, 3) uint8: the clip's first `frames` frames at width x height. FormatError when the
// clip has fewer frames.
at::Tensor load_clip_frames(const ClipSource& clip, int frames, int width, int height);

}  // namespace i2v::train
