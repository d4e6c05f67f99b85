// Building a model only to load its weights into it: the module constructors allocate and
// randomly initialise every parameter (5.7 GB in fp32 for the I2VGen-XL UNet) that loading then
// replaces with views of the memory-mapped file. While a ConstructionArena is alive, every CPU
// allocation returns the SAME block (grown to the largest request), so construction costs about
// the largest tensor instead of the whole model. The tensors' contents are garbage and all alias:
// use it only for a module whose every parameter and buffer is then replaced by loading — and
// check that (MappedWeights::all_mapped, or a strict load outside the arena). The random fills of
// the module constructors are skipped on the constructing thread too (skipped_random_init.h):
// garbage either way, and most of the construction's time.
#pragma once

#include "i2v/memory/skipped_random_init.h"

namespace c10 {
struct Allocator;
}

namespace i2v::memory {

class ConstructionArena {
 public:
  ConstructionArena();   // installs the arena allocator for CPU tensors (process-wide)
  ~ConstructionArena();  // restores the previous allocator; blocks live while tensors use them
  ConstructionArena(const ConstructionArena&) = delete;
  ConstructionArena& operator=(const ConstructionArena&) = delete;

 private:
  c10::Allocator* previous_;
  SkippedRandomInit skipped_init_;
};

}  // namespace i2v::memory
