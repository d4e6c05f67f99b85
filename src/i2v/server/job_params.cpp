#include "i2v/server/job_params.h"

#include <cmath>
#include <map>
#include <random>
#include <set>

#include "i2v/server/api_error.h"

namespace i2v::server {
namespace {

[[noreturn]] void bad(const std::string& message) {
  throw ApiError(400, message);
}

int get_int(const nlohmann::json& j, const char* key, int def, int lo, int hi) {
  if (!j.contains(key) || j[key].is_null()) return def;
  const auto& v = j[key];
  double d = 0;
  if (v.is_number()) {
    d = v.get<double>();
  } else {
    bad(std::string(key) + " must be a number (got " + v.dump() + ")");
  }
  if (!std::isfinite(d) || d != std::floor(d)) {
    bad(std::string(key) + " must be a whole number (got " + v.dump() + ")");
  }
  if (d < lo || d > hi) {
    bad(std::string(key) + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
        " (got " + v.dump() + ")");
  }
  return static_cast<int>(d);
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

}  // namespace

JobParams parse_job_params(const nlohmann::json& j, const ParamLimits& l) {
  if (!j.is_object()) bad("parameters must be a JSON object");
  static const std::set<std::string> known = {
      "prompt", "negative_prompt", "resolution", "width", "height", "frames",
      "fps",    "steps",           "guidance",   "seed"};
  for (const auto& kv : j.items()) {
    if (!known.count(kv.key())) {
      bad("unknown parameter '" + kv.key() +
          "' (known: prompt, negative_prompt, resolution, width, height, frames, fps, steps, "
          "guidance, seed)");
    }
  }
  JobParams p;
  p.prompt = get_string(j, "prompt", l.max_prompt_chars);
  if (p.prompt.find_first_not_of(" \t\r\n") == std::string::npos) bad("prompt must not be empty");
  p.negative_prompt = get_string(j, "negative_prompt", l.max_prompt_chars);

  const bool custom = j.contains("width") || j.contains("height");
  if (custom) {
    if (!j.contains("width") || !j.contains("height")) bad("give both width and height");
    p.width = get_int(j, "width", 0, l.min_side, l.max_side);
    p.height = get_int(j, "height", 0, l.min_side, l.max_side);
    if (p.width % 8 || p.height % 8) {
      bad("width and height must be multiples of 8 (got " + std::to_string(p.width) + "x" +
          std::to_string(p.height) + ")");
    }
    p.resolution = "custom";
    if (j.contains("resolution") && !j["resolution"].is_null() && j["resolution"] != "custom") {
      bad("give either resolution or width and height, not both");
    }
  } else {
    static const std::map<std::string, int> sizes = {
        {"256p", 256}, {"512p", 512}, {"768p", 768}, {"1024p", 1024}};
    if (j.contains("resolution") && !j["resolution"].is_null()) {
      if (!j["resolution"].is_string() || !sizes.count(j["resolution"].get<std::string>())) {
        bad("resolution must be 256p, 512p, 768p or 1024p (got " + j["resolution"].dump() + ")");
      }
      p.resolution = j["resolution"].get<std::string>();
    }
    p.width = p.height = sizes.at(p.resolution);
  }
  p.frames = get_int(j, "frames", p.frames, l.min_frames, l.max_frames);
  p.fps = get_int(j, "fps", p.fps, l.min_fps, l.max_fps);
  p.steps = get_int(j, "steps", p.steps, l.min_steps, l.max_steps);
  if (j.contains("guidance") && !j["guidance"].is_null()) {
    if (!j["guidance"].is_number())
      bad("guidance must be a number (got " + j["guidance"].dump() + ")");
    p.guidance = j["guidance"].get<double>();
    if (!std::isfinite(p.guidance) || p.guidance < l.min_guidance || p.guidance > l.max_guidance) {
      bad("guidance must be between " + std::to_string(l.min_guidance).substr(0, 4) + " and " +
          std::to_string(l.max_guidance).substr(0, 4) + " (got " + j["guidance"].dump() + ")");
    }
  }
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
  if (p.seed < 0) p.seed = static_cast<int64_t>(std::random_device{}() & 0x7fffffff);
  return p;
}

nlohmann::json to_json(const ParamLimits& l) {
  return {{"resolution", {"256p", "512p", "768p", "1024p"}},
          {"frames", {{"min", l.min_frames}, {"max", l.max_frames}, {"default", 16}}},
          {"fps", {{"min", l.min_fps}, {"max", l.max_fps}, {"default", 8}}},
          {"steps", {{"min", l.min_steps}, {"max", l.max_steps}, {"default", 50}}},
          {"guidance", {{"min", l.min_guidance}, {"max", l.max_guidance}, {"default", 9.0}}},
          {"side", {{"min", l.min_side}, {"max", l.max_side}, {"multiple_of", 8}}},
          {"seed", {{"min", -1}, {"max", 4294967295LL}, {"default", -1}}},
          {"max_prompt_chars", l.max_prompt_chars}};
}

}  // namespace i2v::server
