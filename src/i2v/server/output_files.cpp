#include "i2v/server/output_files.h"

#include <map>

#include "i2v/i2v.h"
#include "i2v/video/video_writer.h"

namespace i2v::server {
namespace fs = std::filesystem;

namespace {
const std::map<std::string, std::string>& allowed_types() {
  static const std::map<std::string, std::string> types = {
      {".mp4", "video/mp4"},         {".webm", "video/webm"}, {".gif", "image/gif"},
      {".json", "application/json"}, {".jpg", "image/jpeg"},  {".png", "image/png"}};
  return types;
}
}  // namespace

OutputNames new_output_names(const fs::path& outputs_dir) {
  OutputNames n;
  n.video = new_output_path(outputs_dir.string());  // the library's one naming rule
  n.metadata = n.video;
  n.metadata += ".json";
  n.thumbnail = n.video;
  n.thumbnail.replace_extension(".thumb.jpg");
  return n;
}

OutputNames job_output_names(const fs::path& outputs_dir, int64_t job, int attempt) {
  fs::path plain = new_output_path(outputs_dir.string());
  const std::string stem = plain.stem().string();  // video_<stamp> (maybe _n)
  OutputNames n;
  n.video = video::unique_output_path(
      outputs_dir / (stem + "_j" + std::to_string(job) + "-" + std::to_string(attempt) + ".mp4"));
  n.metadata = n.video;
  n.metadata += ".json";
  n.thumbnail = n.video;
  n.thumbnail.replace_extension(".thumb.jpg");
  return n;
}

void remove_output_files(const OutputNames& names) {
  std::error_code ec;
  for (const fs::path& p : {names.video, names.metadata, names.thumbnail}) fs::remove(p, ec);
}

std::optional<fs::path> servable_output(const fs::path& outputs_dir, const std::string& name) {
  if (name.empty() || name.size() > 200 || name[0] == '.') return std::nullopt;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return std::nullopt;
  }
  if (name.find("..") != std::string::npos) return std::nullopt;
  const fs::path file = outputs_dir / name;
  if (!allowed_types().count(file.extension().string())) return std::nullopt;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return std::nullopt;
  const fs::path real = fs::canonical(file, ec);
  const fs::path root = fs::canonical(outputs_dir, ec);
  if (ec || real.parent_path() != root) return std::nullopt;
  return real;
}

std::string output_content_type(const fs::path& file) {
  auto it = allowed_types().find(file.extension().string());
  return it == allowed_types().end() ? "application/octet-stream" : it->second;
}

}  // namespace i2v::server
