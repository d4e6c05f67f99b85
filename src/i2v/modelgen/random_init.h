// Deterministic random weights for models made from configs alone (tests, benchmarks, the demo).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace i2v::modelgen {

// A float32 tensor for parameter `name` of `shape`, drawn from a generator seeded by
// (seed, name) so every tensor is reproducible on its own, whatever the writing order.
// The scheme follows the golden model's: matrices and conv kernels N(0, 1/fan_in); 1-D "weight"
// (norm scales) 1 + 0.1 N; biases 0.05 N; "class_embedding" 0.5 N.
at::Tensor random_parameter(const std::string& name, const std::vector<int64_t>& shape,
                            uint64_t seed);

}  // namespace i2v::modelgen
