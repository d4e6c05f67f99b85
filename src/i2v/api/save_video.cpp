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

std::string save_video(const Result& result, const std::string& path, const SaveOptions& options) {
  fs::path out = path;
  const video::VideoFormat format = video::format_from_path(out);  // ConfigError if unknown
  if (!options.overwrite) out = video::unique_output_path(out);
  if (!out.parent_path().empty()) {
    std::error_code ec;
    fs::create_directories(out.parent_path(), ec);
    if (ec)
      throw IoError("cannot create the folder " + out.parent_path().string() + ": " + ec.message());
  }
  video::VideoWriteOptions vopts;
  vopts.fps = result.fps;
  vopts.crf = options.crf;
  vopts.overwrite = options.overwrite;
  video::write_video(api::frames_tensor(result.video), out, vopts);

  nlohmann::json meta = result.metadata_json.empty() ? nlohmann::json::object()
                                                     : nlohmann::json::parse(result.metadata_json);
  meta["output"] = out.string();
  meta["format"] =
      format == video::VideoFormat::PngFolder ? "png" : out.extension().string().substr(1);
  fs::path meta_path = out;
  meta_path += ".json";
  std::ofstream f(meta_path);
  f << meta.dump(2) << "\n";
  f.close();
  if (!f) throw IoError("cannot write the metadata " + meta_path.string());
  return out.string();
}

}  // namespace i2v
