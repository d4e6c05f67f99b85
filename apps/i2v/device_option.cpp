#include "device_option.h"

#include "i2v/core/error.h"

namespace i2v::cli {

at::Device parse_device(const std::string& value) {
  const std::string bad = "--device must be cpu or cuda (got '" + value + "')";
  if (value != "cpu" && value.rfind("cuda", 0) != 0) throw ConfigError(bad);
  try {
    return at::Device(value);
  } catch (const std::exception&) {
    throw ConfigError(bad);  // e.g. "cudax"
  }
}

}  // namespace i2v::cli
