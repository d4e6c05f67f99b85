#include "i2v/core/limits.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "i2v/error.h"

namespace i2v {
namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

void in_range(const char* name, double v, double lo, double hi) {
  if (!(std::isfinite(v) && v >= lo && v <= hi)) {
    throw ConfigError(std::string(name) + " must be between " + number(lo) + " and " + number(hi) +
                      " (got " + number(v) + ")");
  }
}

}  // namespace

void check_limits(double width, double height, double frames, double fps, double steps,
                  double guidance, size_t prompt_bytes, const Limits& l) {
  in_range("width", width, l.min_side, l.max_side);
  in_range("height", height, l.min_side, l.max_side);
  in_range("frames", frames, l.min_frames, l.max_frames);
  in_range("fps", fps, l.min_fps, l.max_fps);
  in_range("steps", steps, l.min_steps, l.max_steps);
  in_range("guidance", guidance, l.min_guidance, l.max_guidance);
  if (prompt_bytes > l.max_prompt_bytes) {
    throw ConfigError("prompt is too long (" + std::to_string(prompt_bytes) + " bytes, at most " +
                      std::to_string(l.max_prompt_bytes) + ")");
  }
}

void check_limits(const Request& r, const Limits& l) {
  check_limits(r.width, r.height, r.frames, r.fps, r.steps, r.guidance,
               std::max(r.prompt.size(), r.negative_prompt.size()), l);
}

}  // namespace i2v
