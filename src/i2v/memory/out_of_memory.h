// The one out-of-memory classifier: whether an exception means an allocation failed (the counting
// allocator's enforced budget, std::bad_alloc, libtorch's CPU or CUDA allocator). The fallback
// ladder moves to a cheaper plan on these and on nothing else.
#pragma once

#include <exception>

namespace i2v::memory {

bool is_out_of_memory(const std::exception& e);

}  // namespace i2v::memory
