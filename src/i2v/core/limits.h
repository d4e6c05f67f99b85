// The one range check of a generation's parameters (i2v::Limits, public in i2v/i2v.h), used by
// the library's validation and by front ends that narrow the ranges (the server).
#pragma once

#include <cstddef>

#include "i2v/i2v.h"

namespace i2v {

// ConfigError naming the first value out of range: "frames must be between 2 and 256 (got 1)".
void check_limits(double width, double height, double frames, double fps, double steps,
                  double guidance, size_t prompt_bytes, const Limits& limits);

}  // namespace i2v
