#include "i2v/server/output_files.h"

#include <ctime>
#include <map>

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
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y%m%d_%H%M%S", &tm);
  OutputNames n;
  // The video name decides; its companions follow it (and are checked too).
  fs::path base = outputs_dir / ("video_" + std::string(stamp) + ".mp4");
  for (int i = 0;; ++i) {
    fs::path v =
        i == 0 ? base
               : outputs_dir / ("video_" + std::string(stamp) + "_" + std::to_string(i) + ".mp4");
    fs::path meta = v;
    meta += ".json";
    fs::path thumb = v;
    thumb.replace_extension(".thumb.jpg");
    if (!fs::exists(v) && !fs::exists(meta) && !fs::exists(thumb)) {
      n.video = v;
      n.metadata = meta;
      n.thumbnail = thumb;
      return n;
    }
  }
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
