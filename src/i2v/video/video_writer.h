// Writing generated frames: MP4 (H.264, yuv420p), WebM (VP9), GIF, or a folder of PNG frames.
// Files are written under a temporary name and renamed into place only when complete, so a
// failure (disk full, encoder error) never leaves a half-written file under the final name.
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <memory>

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

// A video written as its frames arrive (streaming output: a long video is never held whole).
// The encoder opens on the first append (its size sets the video's); everything goes to a
// temporary name that finish() renames into place, and a writer destroyed without finish()
// removes it. Errors as write_video's.
class VideoStreamWriter {
 public:
  explicit VideoStreamWriter(const std::filesystem::path& out,
                             const VideoWriteOptions& options = {});
  ~VideoStreamWriter();
  VideoStreamWriter(const VideoStreamWriter&) = delete;
  VideoStreamWriter& operator=(const VideoStreamWriter&) = delete;

  // frames: (n, H, W, 3) uint8, the same H and W every call.
  void append(const at::Tensor& frames);
  void finish();  // IoError when nothing was appended
  int64_t frames_written() const { return written_; }
  const std::filesystem::path& path() const { return out_; }

 private:
  struct Encoder;
  std::filesystem::path out_, tmp_;
  VideoWriteOptions options_;
  VideoFormat format_;
  std::unique_ptr<Encoder> encoder_;  // null for PNG folders and before the first append
  int64_t written_ = 0, height_ = 0, width_ = 0;
  bool finished_ = false;
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
