// Logging: spdlog with one format for the whole program.
#pragma once

#include <spdlog/spdlog.h>

namespace i2v {

// Sets the global log level from a name (trace, debug, info, warn, error, off).
void set_log_level(const std::string& level);

}  // namespace i2v
