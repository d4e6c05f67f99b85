// Writing generated frames: MP4 (H.264, yuv420p), WebM (VP9), GIF, or a folder of PNG frames.
// Files are written under a temporary name and renamed into place only when complete, so a
// failure (disk full, encoder error) never leaves a half-written file under the final name.
#pragma once

#include <ATen/ATen.h>

#include <filesystem>

namespace i2v::video {

enum class VideoFormat { Mp4, WebM, Gif, PngFolder };

// .mp4 / .webm / .gif; a path without extension (or an existing folder) means PNG frames.
// ConfigError for other extensions.
VideoFormat format_from_path(const std::filesystem::path& path);

struct VideoWriteOptions {
  int fps = 8;
  int crf = 18;  // H.264 / VP9 quality (lower is better)
  bool overwrite = false;
};

// frames: (F, H, W, 3) uint8 RGB. ShapeError for other tensors, ConfigError for a bad fps,
// IoError naming the path when writing fails or the output exists and !overwrite.
void write_video(const at::Tensor& frames, const std::filesystem::path& out,
                 const VideoWriteOptions& options = {});

// `path` if free, else the first free of path_1.ext, path_2.ext, ... (outputs never overwrite
// one another). A name is free when neither it nor its companions <path>.json (metadata) and
// <stem>.thumb.jpg (thumbnail) exist.
std::filesystem::path unique_output_path(const std::filesystem::path& path);

}  // namespace i2v::video
