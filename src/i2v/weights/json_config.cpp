#include "i2v/weights/json_config.h"

#include <fstream>
#include <sstream>

namespace i2v::weights {

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot open JSON file " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) throw IoError("cannot read JSON file " + path.string());
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw FormatError("invalid JSON in " + path.string() + ": " + e.what());
  }
}

}  // namespace i2v::weights
