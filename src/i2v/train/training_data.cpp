#include "i2v/train/training_data.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "i2v/error.h"
#include "i2v/image/decode.h"
#include "i2v/image/model_inputs.h"
#include "i2v/video/video_reader.h"

namespace i2v::train {
namespace fs = std::filesystem;
namespace {

const std::set<std::string> kVideo = {".mp4", ".webm", ".mkv", ".mov", ".avi", ".gif", ".m4v"};
const std::set<std::string> kImage = {".png", ".jpg", ".jpeg", ".webp", ".bmp"};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string read_caption(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

std::vector<fs::path> frame_files(const fs::path& folder) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(folder))
    if (e.is_regular_file() && kImage.count(lower(e.path().extension().string())))
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

at::Tensor to_tensor(const image::RgbImage& img) {
  return at::from_blob(const_cast<uint8_t*>(img.pixels.data()), {img.height, img.width, 3},
                       at::kByte)
      .clone();
}

image::RgbImage to_image(const at::Tensor& hwc) {
  const at::Tensor t = hwc.contiguous();
  image::RgbImage img(static_cast<int>(t.size(1)), static_cast<int>(t.size(0)));
  std::copy(t.data_ptr<uint8_t>(), t.data_ptr<uint8_t>() + t.numel(), img.pixels.begin());
  return img;
}

}  // namespace

std::vector<ClipSource> find_training_clips(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw IoError("training data " + dir.string() + " is not a folder");
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(dir)) entries.push_back(e.path());
  std::sort(entries.begin(), entries.end());
  std::vector<ClipSource> clips;
  for (const fs::path& p : entries) {
    const bool video = fs::is_regular_file(p) && kVideo.count(lower(p.extension().string()));
    const bool frames = fs::is_directory(p) && !frame_files(p).empty();
    if (!video && !frames) continue;
    fs::path caption = p.parent_path() / (p.stem().string() + ".txt");
    if (frames && !fs::exists(caption)) caption = p / "caption.txt";
    if (!fs::exists(caption))
      throw ConfigError("clip " + p.string() + " has no caption: write it to " +
                        (p.parent_path() / (p.stem().string() + ".txt")).string());
    clips.push_back({p, read_caption(caption)});
  }
  if (clips.empty())
    throw ConfigError("no training clips in " + dir.string() +
                      " (videos, or folders of frames, each with a .txt caption)");
  return clips;
}

at::Tensor load_clip_frames(const ClipSource& clip, int frames, int width, int height) {
  std::vector<image::RgbImage> raw;
  if (fs::is_directory(clip.path)) {
    for (const fs::path& f : frame_files(clip.path)) {
      if (static_cast<int>(raw.size()) == frames) break;
      raw.push_back(image::decode_image_file(f.string()));
    }
  } else {
    const at::Tensor video = video::read_video_frames(clip.path, frames);
    for (int64_t i = 0; i < video.size(0); ++i) raw.push_back(to_image(video[i]));
  }
  if (static_cast<int>(raw.size()) < frames)
    throw FormatError("clip " + clip.path.string() + " has " + std::to_string(raw.size()) +
                      " frames; --frames " + std::to_string(frames) + " needs that many");
  std::vector<at::Tensor> out;
  for (const auto& img : raw) out.push_back(to_tensor(image::vae_input_image(img, width, height)));
  return at::stack(out);
}

}  // namespace i2v::train
