// Saving a Result: the video file and its metadata beside it, never overwriting unless asked.
#include <ctime>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "i2v/api/image_conversion.h"
#include "i2v/i2v.h"
#include "i2v/video/video_writer.h"

namespace i2v {
namespace fs = std::filesystem;

std::string new_output_path(const std::string& outputs_dir) {
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y%m%d_%H%M%S", &tm);
  return video::unique_output_path(fs::path(outputs_dir) / ("video_" + std::string(stamp) + ".mp4"))
      .string();
}

namespace {

// `path` as it will be written: its format checked (ConfigError), a free name unless overwrite,
// its folder created.
fs::path prepare_output(const std::string& path, const SaveOptions& options) {
  fs::path out = path;
  video::format_from_path(out);  // ConfigError if unknown
  if (!options.overwrite) out = video::unique_output_path(out);
  if (!out.parent_path().empty()) {
    std::error_code ec;
    fs::create_directories(out.parent_path(), ec);
    if (ec)
      throw IoError("cannot create the folder " + out.parent_path().string() + ": " + ec.message());
  }
  return out;
}

// <out>.json: the result's metadata with the output's name and format.
void write_metadata(const Result& result, const fs::path& out) {
  nlohmann::json meta = result.metadata_json.empty() ? nlohmann::json::object()
                                                     : nlohmann::json::parse(result.metadata_json);
  meta["output"] = out.string();
  meta["format"] = video::format_from_path(out) == video::VideoFormat::PngFolder
                       ? "png"
                       : out.extension().string().substr(1);
  fs::path meta_path = out;
  meta_path += ".json";
  std::ofstream f(meta_path);
  f << meta.dump(2) << "\n";
  f.close();
  if (!f) throw IoError("cannot write the metadata " + meta_path.string());
}

}  // namespace

struct VideoFileWriter::Impl {
  std::string path;
  std::unique_ptr<video::VideoStreamWriter> writer;
};

VideoFileWriter::VideoFileWriter(const std::string& path, int fps, const SaveOptions& options)
    : impl_(std::make_unique<Impl>()) {
  const fs::path out = prepare_output(path, options);
  video::VideoWriteOptions vopts;
  vopts.fps = fps;
  vopts.crf = options.crf;
  vopts.overwrite = options.overwrite;
  impl_->path = out.string();
  impl_->writer = std::make_unique<video::VideoStreamWriter>(out, vopts);
}
VideoFileWriter::VideoFileWriter(VideoFileWriter&&) noexcept = default;
VideoFileWriter::~VideoFileWriter() = default;

void VideoFileWriter::append(const Video& frames) {
  impl_->writer->append(api::frames_tensor(frames));
}

std::string VideoFileWriter::finish(const Result& result) {
  impl_->writer->finish();
  write_metadata(result, impl_->path);
  return impl_->path;
}

const std::string& VideoFileWriter::path() const {
  return impl_->path;
}

int VideoFileWriter::frames_written() const {
  return static_cast<int>(impl_->writer->frames_written());
}

std::string save_video(const Result& result, const std::string& path, const SaveOptions& options) {
  VideoFileWriter writer(path, result.fps, options);
  writer.append(result.video);
  return writer.finish(result);
}

}  // namespace i2v
