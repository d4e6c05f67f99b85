// The built-in default model: a tiny random-weight I2VGen-XL made once from the shipped configs,
// so the whole path runs in seconds without downloads (its videos are noise).
#pragma once

#include <string>

namespace i2v::cli {

// Returns the folder of the default model, creating it on first use under $I2V_HOME (default
// ~/.cache/i2v)/models/tiny from configs/models/tiny.
std::string ensure_default_model();

}  // namespace i2v::cli
