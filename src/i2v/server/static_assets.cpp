#include "i2v/server/static_assets.h"

namespace i2v::server {

const StaticAsset* find_static_asset(const std::string& path) {
  const std::string p = path == "/" ? "/index.html" : path;
  for (const auto& a : static_assets()) {
    if (p == a.path) return &a;
  }
  return nullptr;
}

}  // namespace i2v::server
