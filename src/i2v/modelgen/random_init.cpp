#include "i2v/modelgen/random_init.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

namespace i2v::modelgen {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

uint64_t fnv1a(const std::string& s, uint64_t h) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

at::Tensor random_parameter(const std::string& name, const std::vector<int64_t>& shape,
                            uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(fnv1a(name, 14695981039346656037ULL ^ seed));
  at::Tensor t = at::empty(shape, at::kFloat);
  t.normal_(0.0, 1.0, gen);
  if (ends_with(name, "class_embedding")) return t.mul_(0.5);
  if (shape.size() >= 2) {
    int64_t fan_in = 1;
    for (size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
    return t.mul_(1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(fan_in, 1))));
  }
  if (ends_with(name, "bias")) return t.mul_(0.05);
  if (ends_with(name, "weight")) return t.mul_(0.1).add_(1.0);
  return t.mul_(0.05);
}

}  // namespace i2v::modelgen
