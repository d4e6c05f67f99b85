// The rules every front end shares: the resolution names and the seed rule.
#include <random>

#include "i2v/i2v.h"

namespace i2v {
namespace {

const std::vector<std::pair<std::string, int>>& resolutions() {
  static const std::vector<std::pair<std::string, int>> table = {
      {"256p", 256}, {"512p", 512}, {"768p", 768}, {"1024p", 1024}};
  return table;
}

}  // namespace

int resolution_pixels(const std::string& name) {
  for (const auto& [n, px] : resolutions())
    if (n == name) return px;
  return 0;
}

std::vector<std::string> resolution_names() {
  std::vector<std::string> out;
  for (const auto& r : resolutions()) out.push_back(r.first);
  return out;
}

int64_t resolve_seed(int64_t seed) {
  if (seed >= 0) return seed;
  return static_cast<int64_t>(std::random_device{}() & 0x7fffffff);
}

}  // namespace i2v
