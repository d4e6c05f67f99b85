#include "i2v/core/log.h"

#include "i2v/error.h"

namespace i2v {

void set_log_level(const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    throw ConfigError("unknown log level '" + level +
                      "' (use trace, debug, info, warn, error or off)");
  }
  spdlog::set_level(lvl);
  spdlog::set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
}

}  // namespace i2v
