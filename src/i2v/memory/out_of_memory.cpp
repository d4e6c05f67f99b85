#include "i2v/memory/out_of_memory.h"

#include <new>
#include <string>

#include "i2v/memory/memory_stats.h"

namespace i2v::memory {

bool is_out_of_memory(const std::exception& e) {
  if (dynamic_cast<const BudgetExceededError*>(&e)) return true;
  if (dynamic_cast<const std::bad_alloc*>(&e)) return true;
  // libtorch: "CUDA out of memory. Tried to allocate ..." (c10::OutOfMemoryError in 2.x),
  // "DefaultCPUAllocator: can't allocate memory: you tried to allocate ...".
  const std::string what = e.what();
  return what.find("out of memory") != std::string::npos ||
         what.find("can't allocate memory") != std::string::npos;
}

}  // namespace i2v::memory
