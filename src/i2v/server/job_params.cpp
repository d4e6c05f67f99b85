#include "i2v/server/job_params.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "i2v/core/limits.h"
#include "i2v/server/api_error.h"

namespace i2v::server {
namespace {

[[noreturn]] void bad(const std::string& message) {
  throw ApiError(400, message);
}

// A whole number, or absent (nullopt); its range is check_limits'.
std::optional<double> get_whole(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  const auto& v = j[key];
  if (!v.is_number()) bad(std::string(key) + " must be a number (got " + v.dump() + ")");
  const double d = v.get<double>();
  if (!std::isfinite(d) || d != std::floor(d)) {
    bad(std::string(key) + " must be a whole number (got " + v.dump() + ")");
  }
  return d;
}

std::string get_string(const nlohmann::json& j, const char* key, size_t max_chars) {
  if (!j.contains(key) || j[key].is_null()) return "";
  if (!j[key].is_string()) bad(std::string(key) + " must be a string");
  std::string s = j[key].get<std::string>();
  if (s.size() > max_chars) {
    bad(std::string(key) + " is too long (" + std::to_string(s.size()) + " bytes, at most " +
        std::to_string(max_chars) + ")");
  }
  return s;
}

// "loras": [{"name": "style.safetensors", "scale": 0.8}, ...]: plain file names only.
std::vector<JobLora> parse_loras(const nlohmann::json& j, const ParamLimits& l) {
  std::vector<JobLora> out;
  if (!j.contains("loras") || j["loras"].is_null()) return out;
  const auto& list = j["loras"];
  if (!list.is_array()) bad("loras must be a list of {\"name\", \"scale\"}");
  if (static_cast<int>(list.size()) > l.max_loras)
    bad("at most " + std::to_string(l.max_loras) + " loras per job (got " +
        std::to_string(list.size()) + ")");
  for (const auto& item : list) {
    if (!item.is_object() || !item.contains("name") || !item["name"].is_string())
      bad("each lora must be an object with a name (got " + item.dump() + ")");
    for (const auto& kv : item.items())
      if (kv.key() != "name" && kv.key() != "scale") bad("unknown lora field '" + kv.key() + "'");
    JobLora lora;
    lora.name = item["name"].get<std::string>();
    const bool plain = !lora.name.empty() && lora.name.size() <= 255 &&
                       lora.name.find_first_of("/\\") == std::string::npos && lora.name[0] != '.' &&
                       lora.name.find('\0') == std::string::npos;
    if (!plain)
      bad("lora name must be a file name of the server's LoRA folder (got " + item["name"].dump() +
          ")");
    if (item.contains("scale")) {
      if (!item["scale"].is_number())
        bad("lora scale must be a number (got " + item["scale"].dump() + ")");
      lora.scale = item["scale"].get<double>();
      if (!std::isfinite(lora.scale) || lora.scale < l.min_lora_scale ||
          lora.scale > l.max_lora_scale)
        bad("lora scale must be between " + std::to_string(l.min_lora_scale) + " and " +
            std::to_string(l.max_lora_scale) + " (got " + item["scale"].dump() + ")");
    }
    out.push_back(lora);
  }
  return out;
}

}  // namespace

JobParams parse_job_params(const nlohmann::json& j, const ParamLimits& l) {
  if (!j.is_object()) bad("parameters must be a JSON object");
  static const std::set<std::string> known = {
      "prompt", "negative_prompt", "resolution", "width", "height", "frames",        "fps",
      "steps",  "guidance",        "seed",       "loras", "window", "window_stride", "window_fuse"};
  for (const auto& kv : j.items()) {
    if (!known.count(kv.key())) {
      bad("unknown parameter '" + kv.key() +
          "' (known: prompt, negative_prompt, resolution, width, height, frames, fps, steps, "
          "guidance, seed, loras, window, window_stride, window_fuse)");
    }
  }
  JobParams p;
  p.prompt = get_string(j, "prompt", l.max_prompt_bytes);
  if (p.prompt.find_first_not_of(" \t\r\n") == std::string::npos) bad("prompt must not be empty");
  p.negative_prompt = get_string(j, "negative_prompt", l.max_prompt_bytes);

  double width = p.width, height = p.height;
  const bool custom = j.contains("width") || j.contains("height");
  if (custom) {
    if (!j.contains("width") || !j.contains("height")) bad("give both width and height");
    width = get_whole(j, "width").value_or(0);
    height = get_whole(j, "height").value_or(0);
    p.resolution = "custom";
    if (j.contains("resolution") && !j["resolution"].is_null() && j["resolution"] != "custom") {
      bad("give either resolution or width and height, not both");
    }
  } else {
    if (j.contains("resolution") && !j["resolution"].is_null()) {
      if (!j["resolution"].is_string() ||
          resolution_pixels(j["resolution"].get<std::string>()) == 0) {
        bad("resolution must be 256p, 512p, 768p or 1024p (got " + j["resolution"].dump() + ")");
      }
      p.resolution = j["resolution"].get<std::string>();
    }
    width = height = resolution_pixels(p.resolution);
  }
  const double frames = get_whole(j, "frames").value_or(p.frames);
  const double fps = get_whole(j, "fps").value_or(p.fps);
  const double steps = get_whole(j, "steps").value_or(p.steps);
  if (j.contains("guidance") && !j["guidance"].is_null()) {
    if (!j["guidance"].is_number())
      bad("guidance must be a number (got " + j["guidance"].dump() + ")");
    p.guidance = j["guidance"].get<double>();
  }
  try {
    check_limits(width, height, frames, fps, steps, p.guidance, 0, l);
  } catch (const ConfigError& e) {
    bad(e.what());
  }
  p.width = static_cast<int>(width);
  p.height = static_cast<int>(height);
  if (p.width % 8 || p.height % 8) {
    bad("width and height must be multiples of 8 (got " + std::to_string(p.width) + "x" +
        std::to_string(p.height) + ")");
  }
  p.frames = static_cast<int>(frames);
  p.fps = static_cast<int>(fps);
  p.steps = static_cast<int>(steps);
  p.seed = -1;
  if (j.contains("seed") && !j["seed"].is_null()) {
    const auto& v = j["seed"];
    if (!v.is_number_integer()) bad("seed must be a whole number (got " + v.dump() + ")");
    if (v.is_number_unsigned() ? v.get<uint64_t>() > 4294967295ULL
                               : (v.get<int64_t>() < -1 || v.get<int64_t>() > 4294967295LL)) {
      bad("seed must be -1 (random) or between 0 and 4294967295 (got " + v.dump() + ")");
    }
    p.seed = v.get<int64_t>();
  }
  p.seed = resolve_seed(p.seed);
  p.loras = parse_loras(j, l);
  const double window = get_whole(j, "window").value_or(p.window);
  const double stride = get_whole(j, "window_stride").value_or(p.window_stride);
  if (window != -1 && window != 0 && (window < 2 || window > 32))
    bad("window must be -1 (auto: 16 beyond 16 frames), 0 (off) or 2 to 32 frames (got " +
        std::to_string(static_cast<int64_t>(window)) + ")");
  if (stride < 1 || stride > std::max(2.0, window > 0 ? window : 16.0))
    bad("window_stride must be between 1 and the window length (got " +
        std::to_string(static_cast<int64_t>(stride)) + ")");
  p.window = static_cast<int>(window);
  p.window_stride = static_cast<int>(stride);
  p.window_fuse = get_string(j, "window_fuse", 16);
  if (p.window_fuse.empty()) p.window_fuse = "pyramid";
  if (p.window_fuse != "pyramid" && p.window_fuse != "flat")
    bad("window_fuse must be pyramid or flat (got \"" + p.window_fuse + "\")");
  return p;
}

Request to_request(const JobParams& p, const std::filesystem::path& lora_dir) {
  Request r;
  for (const JobLora& l : p.loras) r.loras.push_back({(lora_dir / l.name).string(), l.scale});
  r.prompt = p.prompt;
  r.negative_prompt = p.negative_prompt;
  r.width = p.width;
  r.height = p.height;
  r.frames = p.frames;
  r.fps = p.fps;
  r.steps = p.steps;
  r.guidance = p.guidance;
  r.seed = p.seed;
  r.window = p.window;
  r.window_stride = p.window_stride;
  r.window_fuse = p.window_fuse;
  return r;
}

nlohmann::json list_loras(const std::filesystem::path& dir) {
  nlohmann::json out = nlohmann::json::array();
  std::error_code ec;
  if (dir.empty() || !std::filesystem::is_directory(dir, ec)) return out;
  std::vector<std::pair<std::string, uintmax_t>> files;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (!e.is_regular_file(ec) || e.path().extension() != ".safetensors") continue;
    files.emplace_back(e.path().filename().string(), e.file_size(ec));
  }
  std::sort(files.begin(), files.end());
  for (const auto& [name, bytes] : files) out.push_back({{"name", name}, {"bytes", bytes}});
  return out;
}

nlohmann::json to_json(const ParamLimits& l) {
  return {{"resolution", resolution_names()},
          {"frames", {{"min", l.min_frames}, {"max", l.max_frames}, {"default", 16}}},
          {"fps", {{"min", l.min_fps}, {"max", l.max_fps}, {"default", 8}}},
          {"steps", {{"min", l.min_steps}, {"max", l.max_steps}, {"default", 50}}},
          {"guidance", {{"min", l.min_guidance}, {"max", l.max_guidance}, {"default", 9.0}}},
          {"side", {{"min", l.min_side}, {"max", l.max_side}, {"multiple_of", 8}}},
          {"seed", {{"min", -1}, {"max", 4294967295LL}, {"default", -1}}},
          {"window",
           {{"min", 2},
            {"max", 32},
            {"default", -1},
            {"auto_length", 16},
            {"fuse", {"pyramid", "flat"}},
            {"stride_default", 4}}},
          {"max_prompt_chars", l.max_prompt_bytes},
          {"loras",
           {{"max", l.max_loras},
            {"scale_min", l.min_lora_scale},
            {"scale_max", l.max_lora_scale},
            {"default_scale", 1.0}}}};
}

}  // namespace i2v::server
